"""The experiment state machine: states, verdicts and the one table of allowed transitions.

Pure code. The store re-checks every transition with a compare-and-set and writes an event row.
"""

from __future__ import annotations

from enum import StrEnum

from phoenix_core.errors import InvalidTransition

__all__ = [
    "ACTIVE_STATES",
    "COLLECTING_STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "ExperimentState",
    "Verdict",
    "transition",
]


class ExperimentState(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    DEPLOYING = "deploying"
    WARMING_UP = "warming_up"
    RUNNING = "running"
    ANALYZING = "analyzing"
    COMPLETED = "completed"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


_S = ExperimentState

TRANSITIONS: dict[ExperimentState, frozenset[ExperimentState]] = {
    _S.DRAFT: frozenset({_S.SCHEDULED}),
    _S.SCHEDULED: frozenset({_S.DEPLOYING, _S.STOPPING, _S.FAILED}),
    _S.DEPLOYING: frozenset({_S.WARMING_UP, _S.STOPPING, _S.FAILED}),
    _S.WARMING_UP: frozenset({_S.RUNNING, _S.STOPPING, _S.FAILED}),
    _S.RUNNING: frozenset({_S.ANALYZING, _S.STOPPING, _S.FAILED}),
    _S.ANALYZING: frozenset({_S.COMPLETED, _S.FAILED}),
    _S.STOPPING: frozenset({_S.STOPPED, _S.FAILED}),
    _S.COMPLETED: frozenset(),
    _S.STOPPED: frozenset(),
    _S.FAILED: frozenset(),
}
"""For each state, the states it may move to next."""

TERMINAL_STATES = frozenset(state for state, nexts in TRANSITIONS.items() if not nexts)
ACTIVE_STATES = frozenset(TRANSITIONS) - TERMINAL_STATES - {_S.DRAFT}
"""States in which an experiment holds its hosts."""
COLLECTING_STATES = frozenset({_S.DEPLOYING, _S.WARMING_UP, _S.RUNNING})
"""States in which an experiment's collectors are meant to run (once started)."""


def transition(current: ExperimentState, target: ExperimentState) -> ExperimentState:
    """Return ``target`` if the state machine allows ``current → target``, else raise."""
    if target not in TRANSITIONS[current]:
        raise InvalidTransition("experiment", current.value, target.value)
    return target
