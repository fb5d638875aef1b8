"""The experiment state machine."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix_core.errors import InvalidTransition
from phoenix_core.lifecycle import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    ExperimentState,
    transition,
)

S = ExperimentState


def test_the_happy_path_is_allowed() -> None:
    state = S.DRAFT
    for target in (S.SCHEDULED, S.DEPLOYING, S.WARMING_UP, S.RUNNING, S.ANALYZING, S.COMPLETED):
        state = transition(state, target)
    assert state is S.COMPLETED


def test_terminal_states() -> None:
    assert {S.COMPLETED, S.STOPPED, S.FAILED} == TERMINAL_STATES
    assert S.DRAFT not in ACTIVE_STATES
    assert S.RUNNING in ACTIVE_STATES


@pytest.mark.parametrize("state", sorted(ACTIVE_STATES - {S.ANALYZING, S.STOPPING}))
def test_a_user_can_stop_any_active_experiment(state: ExperimentState) -> None:
    assert transition(state, S.STOPPING) is S.STOPPING


def test_a_refusal_names_both_states() -> None:
    with pytest.raises(InvalidTransition, match="'completed' cannot move to 'running'"):
        transition(S.COMPLETED, S.RUNNING)


def _reaches_an_end(start: ExperimentState) -> bool:
    seen, frontier = {start}, [start]
    while frontier:
        state = frontier.pop()
        if state in TERMINAL_STATES:
            return True
        for nxt in TRANSITIONS[state] - seen:
            seen.add(nxt)
            frontier.append(nxt)
    return False


@given(st.lists(st.sampled_from(list(ExperimentState)), max_size=40))
def test_random_event_sequences_stay_legal_and_can_always_end(
    targets: list[ExperimentState],
) -> None:
    state = S.DRAFT
    for target in targets:
        try:
            state = transition(state, target)
        except InvalidTransition:
            assert target not in TRANSITIONS[state]
        assert state in TRANSITIONS
        assert _reaches_an_end(state)
