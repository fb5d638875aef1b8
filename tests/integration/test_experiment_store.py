"""Experiments persist whole (A/B/n), drafts edit with optimistic locking, transitions are CAS."""

from __future__ import annotations

import uuid

import pytest

from phoenix_core.errors import Conflict, InvalidTransition, NotFound
from phoenix_core.lifecycle import ExperimentState, Verdict
from phoenix_core.spec import ExperimentSpec
from phoenix_core.store.events import EventRepository
from phoenix_core.store.experiments import ExperimentRepository
from phoenix_core.store.session import Store
from support.specs import spec_data

S = ExperimentState


def _create(store: Store, **overrides: object) -> uuid.UUID:
    with store.session() as session:
        record = ExperimentRepository(session).create(
            ExperimentSpec.parse(spec_data(**overrides)), actor="user:alice"
        )
    return record.id


def test_the_whole_spec_round_trips(store: Store) -> None:
    spec = ExperimentSpec.parse(spec_data())
    experiment_id = _create(store)
    with store.session() as session:
        record = ExperimentRepository(session).get(experiment_id)
    assert record.spec == spec
    assert [v.name for v in record.spec.variants] == ["baseline", "topk20", "hybrid"]
    assert record.spec.baseline.name == "baseline"
    assert len(record.spec.candidates) == 2
    assert record.state is S.DRAFT
    assert record.version == 1
    assert record.created_by == "user:alice"
    assert record.created_at.tzinfo is not None
    assert record.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_creation_writes_an_event_with_the_actor(store: Store) -> None:
    experiment_id = _create(store)
    with store.session() as session:
        events = EventRepository(session).list(experiment_id=experiment_id)
    assert [(e.type, e.actor) for e in events] == [("experiment_created", "user:alice")]
    assert events[0].data["variants"] == ["baseline", "topk20", "hybrid"]


def test_unknown_experiment_is_not_found(store: Store) -> None:
    with store.session() as session, pytest.raises(NotFound):
        ExperimentRepository(session).get(uuid.uuid4())


def test_draft_update_needs_the_current_version(store: Store) -> None:
    experiment_id = _create(store)
    changed = ExperimentSpec.parse(
        spec_data(
            name="renamed",
            variants=[
                {"name": "base", "role": "baseline", "template": "baseline"},
                {"name": "agg", "role": "candidate", "template": "aggregate"},
            ],
        )
    )
    with store.session() as session:
        record = ExperimentRepository(session).update_spec(
            experiment_id, changed, expected_version=1, actor="user:bob"
        )
    assert record.version == 2
    assert record.spec == changed
    with store.session() as session:
        assert ExperimentRepository(session).get(experiment_id).spec == changed
    with store.session() as session, pytest.raises(Conflict, match="version 2, not 1"):
        ExperimentRepository(session).update_spec(
            experiment_id, changed, expected_version=1, actor="user:bob"
        )


def test_only_drafts_are_edited_or_deleted(store: Store) -> None:
    experiment_id = _create(store)
    with store.session() as session:
        ExperimentRepository(session).transition(experiment_id, S.SCHEDULED, actor="user:alice")
    spec = ExperimentSpec.parse(spec_data())
    with store.session() as session, pytest.raises(Conflict, match="not a draft"):
        ExperimentRepository(session).update_spec(
            experiment_id, spec, expected_version=1, actor="user:alice"
        )
    with store.session() as session, pytest.raises(Conflict, match="only drafts"):
        ExperimentRepository(session).delete(experiment_id, actor="user:alice")


def test_deleting_a_draft_keeps_its_audit_trail(store: Store) -> None:
    experiment_id = _create(store)
    with store.session() as session:
        ExperimentRepository(session).delete(experiment_id, actor="user:alice")
    with store.session() as session:
        with pytest.raises(NotFound):
            ExperimentRepository(session).get(experiment_id)
        events = EventRepository(session).list(experiment_id=experiment_id)
    assert [e.type for e in events] == ["experiment_created", "experiment_deleted"]


def test_a_full_lifecycle_is_audited(store: Store) -> None:
    experiment_id = _create(store)
    path = [S.SCHEDULED, S.DEPLOYING, S.WARMING_UP, S.RUNNING, S.ANALYZING]
    with store.session() as session:
        repository = ExperimentRepository(session)
        for state in path:
            repository.transition(experiment_id, state, actor="controller")
        record = repository.transition(
            experiment_id,
            S.COMPLETED,
            actor="controller",
            verdict=Verdict.INCONCLUSIVE,
            verdict_reasons=["no analyzer configured"],
        )
    assert record.state is S.COMPLETED
    assert record.verdict is Verdict.INCONCLUSIVE
    assert record.verdict_reasons == ["no analyzer configured"]
    assert record.started_at is not None
    assert record.completed_at is not None
    with store.session() as session:
        events = EventRepository(session).list(experiment_id=experiment_id)
    changes = [
        (e.data["from"], e.data["to"]) for e in events if e.type == "experiment_state_changed"
    ]
    assert changes == list(zip(["draft", *path], [*path, "completed"], strict=True))
    assert events[-1].data["verdict"] == "inconclusive"


def test_failure_records_its_reason(store: Store) -> None:
    experiment_id = _create(store)
    with store.session() as session:
        repository = ExperimentRepository(session)
        repository.transition(experiment_id, S.SCHEDULED, actor="user:alice")
        repository.transition(experiment_id, S.DEPLOYING, actor="controller")
        record = repository.transition(
            experiment_id, S.FAILED, actor="controller", reason="deploy timed out after 120 s"
        )
    assert record.failure_reason == "deploy timed out after 120 s"


def test_disallowed_transition_is_refused_and_changes_nothing(store: Store) -> None:
    experiment_id = _create(store)
    with store.session() as session, pytest.raises(InvalidTransition, match=r"'draft'.*'running'"):
        ExperimentRepository(session).transition(experiment_id, S.RUNNING, actor="controller")
    with store.session() as session:
        assert ExperimentRepository(session).get(experiment_id).state is S.DRAFT
        events = EventRepository(session).list(experiment_id=experiment_id)
    assert [e.type for e in events] == ["experiment_created"]


def test_transition_is_a_compare_and_set(store: Store) -> None:
    """Two actors read 'scheduled'; the one that writes second loses and changes nothing."""
    experiment_id = _create(store)
    with store.session() as session:
        ExperimentRepository(session).transition(experiment_id, S.SCHEDULED, actor="user:alice")
    with store.session() as slow:
        slow_repository = ExperimentRepository(slow)
        assert slow_repository.get(experiment_id).state is S.SCHEDULED  # loads the row
        with store.session() as fast:
            ExperimentRepository(fast).transition(experiment_id, S.STOPPING, actor="user:bob")
        with pytest.raises(InvalidTransition):
            slow_repository.transition(experiment_id, S.DEPLOYING, actor="controller")
    with store.session() as session:
        record = ExperimentRepository(session).get(experiment_id)
        events = EventRepository(session).list(experiment_id=experiment_id)
    assert record.state is S.STOPPING
    assert [e.actor for e in events] == ["user:alice", "user:alice", "user:bob"]


def test_expected_state_guards_the_transition(store: Store) -> None:
    experiment_id = _create(store)
    with store.session() as session, pytest.raises(Conflict, match="not 'running'"):
        ExperimentRepository(session).transition(
            experiment_id, S.SCHEDULED, actor="controller", expected=S.RUNNING
        )


def test_list_filters_by_state_and_pages_newest_first(store: Store) -> None:
    ids = [_create(store, name=f"experiment {i}") for i in range(5)]
    with store.session() as session:
        ExperimentRepository(session).transition(ids[0], S.SCHEDULED, actor="user:alice")
    with store.session() as session:
        repository = ExperimentRepository(session)
        first = repository.list(limit=2)
        second = repository.list(limit=2, before=(first[-1].created_at, first[-1].id))
        third = repository.list(limit=2, before=(second[-1].created_at, second[-1].id))
        scheduled = repository.list(state=S.SCHEDULED)
    paged = [r.id for r in first + second + third]
    assert sorted(paged) == sorted(ids)
    assert len(set(paged)) == 5
    assert [r.id for r in scheduled] == [ids[0]]
