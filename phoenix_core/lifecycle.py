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


TRANSITIONS: dict[ExperimentState, frozenset[ExperimentState]] = {
    ExperimentState.DRAFT: frozenset({ExperimentState.SCHEDULED}),
    ExperimentState.SCHEDULED: frozenset(
        {ExperimentState.DEPLOYING, ExperimentState.STOPPING, ExperimentState.FAILED}
    ),
    ExperimentState.DEPLOYING: frozenset(
        {ExperimentState.WARMING_UP, ExperimentState.STOPPING, ExperimentState.FAILED}
    ),
    ExperimentState.WARMING_UP: frozenset(
        {ExperimentState.RUNNING, ExperimentState.STOPPING, ExperimentState.FAILED}
    ),
    ExperimentState.RUNNING: frozenset(
        {ExperimentState.ANALYZING, ExperimentState.STOPPING, ExperimentState.FAILED}
    ),
    ExperimentState.ANALYZING: frozenset({ExperimentState.COMPLETED, ExperimentState.FAILED}),
    ExperimentState.STOPPING: frozenset({ExperimentState.STOPPED, ExperimentState.FAILED}),
    ExperimentState.COMPLETED: frozenset(),
    ExperimentState.STOPPED: frozenset(),
    ExperimentState.FAILED: frozenset(),
}
"""For each state, the states it may move to next."""

TERMINAL_STATES = frozenset(state for state, nexts in TRANSITIONS.items() if not nexts)
ACTIVE_STATES = frozenset(TRANSITIONS) - TERMINAL_STATES - {ExperimentState.DRAFT}
"""States in which an experiment holds its hosts."""
COLLECTING_STATES = frozenset(
    {ExperimentState.DEPLOYING, ExperimentState.WARMING_UP, ExperimentState.RUNNING}
)
"""States in which an experiment's collectors are meant to run (once started)."""


def transition(current: ExperimentState, target: ExperimentState) -> ExperimentState:
    """Return ``target`` if the state machine allows ``current → target``, else raise."""
    if target not in TRANSITIONS[current]:
        raise InvalidTransition("experiment", current.value, target.value)
    return target
