"""The task queue contract, run against every backend: in-memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta, timezone

import pytest

from phoenix_core.clock import utcnow
from phoenix_core.errors import InvalidTransition, NotFound
from phoenix_core.queue import (
    MemoryTaskQueue,
    NewTask,
    QueueSettings,
    Report,
    ReportResult,
    StaleAttempt,
    TaskNotHeld,
    TaskQueue,
    open_queue,
)
from phoenix_core.queue.postgres import PostgresTaskQueue
from phoenix_core.spec import ExperimentSpec
from phoenix_core.store.database import make_engine
from phoenix_core.store.experiments import ExperimentRepository
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.session import Store
from phoenix_core.wire import TaskAction, TaskStatus, TaskType
from support.specs import spec_data
from support.waiting import wait_for_tasks

S = TaskStatus
SETTINGS = QueueSettings(backoff_base_seconds=2, backoff_cap_seconds=30)


class Backend:
    def __init__(self, queue: TaskQueue, hosts: list[uuid.UUID], experiment: uuid.UUID) -> None:
        self.queue, self.hosts, self.experiment = queue, hosts, experiment


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        hosts = [uuid.uuid4(), uuid.uuid4()]
        queue: TaskQueue = MemoryTaskQueue(SETTINGS, known_hosts=set(hosts))
        yield Backend(queue, hosts, uuid.uuid4())
        return
    url = request.getfixturevalue(
        "postgres_url" if request.param == "postgresql" else "database_url_sqlite"
    )
    engine = make_engine(url)
    store = Store(engine)
    with store.session() as session:
        hosts = [HostRepository(session).register(f"h{i}", actor="test").id for i in range(2)]
        experiment = (
            ExperimentRepository(session).create(ExperimentSpec.parse(spec_data()), actor="test").id
        )
    queue = open_queue(engine, SETTINGS)
    yield Backend(queue, hosts, experiment)
    queue.close()
    engine.dispose()


@pytest.fixture
def database_url_sqlite(empty_sqlite_url: str) -> str:
    from phoenix_core.store.migrate import upgrade

    engine = make_engine(empty_sqlite_url)
    upgrade(engine)
    engine.dispose()
    return empty_sqlite_url


def _task(b: Backend, host: int = 0, **kw: object) -> NewTask:
    return NewTask(
        host_id=b.hosts[host],
        type=TaskType.NOOP,
        action=TaskAction.RUN,
        payload={"note": str(kw.pop("note", ""))},
        **kw,
    )  # type: ignore[arg-type]


def test_claim_orders_by_priority_then_age_and_only_the_hosts_own(backend: Backend) -> None:
    q = backend.queue
    low = q.enqueue([_task(backend, note="low")])[0]
    high = q.enqueue([_task(backend, note="high", priority=5)])[0]
    other_host = q.enqueue([_task(backend, host=1, note="other")])[0]
    later = q.enqueue([_task(backend, note="later")])[0]
    claimed = q.claim(backend.hosts[0], limit=10)
    assert [t.id for t in claimed] == [high, low, later]
    assert [t.payload["note"] for t in claimed] == ["high", "low", "later"]
    assert all(t.attempt == 1 and t.lease_expires_at > utcnow() for t in claimed)
    assert all(q.get(t.id).status is S.CLAIMED for t in claimed)
    assert q.claim(backend.hosts[0]) == []
    assert [t.id for t in q.claim(backend.hosts[1])] == [other_host]


def test_not_before_delays_claiming(backend: Backend) -> None:
    q = backend.queue
    q.enqueue([_task(backend, not_before=utcnow() + timedelta(hours=1))])
    assert q.claim(backend.hosts[0]) == []
    assert not q.has_claimable(backend.hosts[0])
    assert len(q.claim(backend.hosts[0], at=utcnow() + timedelta(hours=2))) == 1


def test_payloads_results_and_times_round_trip_exactly(backend: Backend) -> None:
    """What goes in comes out: nested JSON, non-ASCII text, floats, integers beyond 64 bits
    (the PostgreSQL queue's fast JSON path falls back to the standard library for those), a
    ``not_before`` in another time zone."""
    q = backend.queue
    payload = {
        "config": {"receivers": ["prometheus"], "scrape": 15.5, "labels": {"hôte": "été"}},
        "big": 2**70 + 1,
        "negative": -(2**65) - 3,
        "empty": {},
        "none": None,
        "quote": 'say "hi"\n',
    }
    tz = timezone(timedelta(hours=5, minutes=30))
    soon = (utcnow() + timedelta(minutes=10)).astimezone(tz)
    new = NewTask(backend.hosts[0], TaskType.NOOP, TaskAction.RUN, payload, not_before=soon)
    task_id = q.enqueue([new])[0]
    assert q.get(task_id).not_before == soon
    assert q.claim(backend.hosts[0], at=soon - timedelta(seconds=1)) == []
    claimed = q.claim(backend.hosts[0], at=soon)[0]
    assert claimed.payload == payload
    result = {"series": 2**66 + 7, "ratio": 0.125, "note": "kept ✓"}
    host = backend.hosts[0]
    report = Report(task_id, 1, S.FAILED, result=result, error_message="exit 1: « boom »")
    assert q.report(host, [report]).applied == 1
    done = q.get(task_id)
    assert (done.result, done.error_message) == (result, "exit 1: « boom »")


def test_idempotency_key_yields_one_task(backend: Backend) -> None:
    q = backend.queue
    first = q.enqueue([_task(backend, idempotency_key="start:exp:base:h0")])[0]
    again = q.enqueue([_task(backend, idempotency_key="start:exp:base:h0"), _task(backend)])
    assert again[0] == first
    assert again[1] != first
    assert q.stats().depth[S.PENDING] == 2


def test_report_lifecycle_and_idempotent_repeats(backend: Backend) -> None:
    q = backend.queue
    q.enqueue([_task(backend)])
    task = q.claim(backend.hosts[0])[0]
    host = backend.hosts[0]
    assert q.report(host, [Report(task.id, 1, S.RUNNING)]) == ReportResult(applied=1)
    running = q.get(task.id)
    assert running.status is S.RUNNING and running.started_at is not None
    assert q.report(host, [Report(task.id, 1, S.RUNNING)]) == ReportResult(applied=0)  # repeat
    assert q.get(task.id) == running
    assert q.report(host, [Report(task.id, 1, S.SUCCEEDED, result={"ok": 1})]).applied == 1
    done = q.get(task.id)
    assert done.status is S.SUCCEEDED and done.result == {"ok": 1}
    assert done.completed_at is not None and done.lease_expires_at is None
    assert q.report(host, [Report(task.id, 1, S.SUCCEEDED, result={"ok": 1})]).applied == 0
    with pytest.raises(InvalidTransition):
        q.report(host, [Report(task.id, 1, S.FAILED)]).raise_for_refusal()


def test_reports_are_refused_for_other_hosts_and_unknown_tasks(backend: Backend) -> None:
    q = backend.queue
    q.enqueue([_task(backend)])
    task = q.claim(backend.hosts[0])[0]
    with pytest.raises(TaskNotHeld):
        q.report(backend.hosts[1], [Report(task.id, 1, S.SUCCEEDED)]).raise_for_refusal()
    with pytest.raises(TaskNotHeld):
        q.report(backend.hosts[0], [Report(987654, 1, S.SUCCEEDED)]).raise_for_refusal()
    assert q.get(task.id).status is S.CLAIMED


def test_each_report_of_a_batch_stands_alone(backend: Backend) -> None:
    q = backend.queue
    q.enqueue([_task(backend), _task(backend)])
    a, b = q.claim(backend.hosts[0], limit=2)
    result = q.report(
        backend.hosts[0], [Report(b.id, 9, S.SUCCEEDED), Report(a.id, 1, S.SUCCEEDED)]
    )
    assert result.applied == 1
    assert [(task_id, type(error)) for task_id, error in result.refused] == [(b.id, StaleAttempt)]
    with pytest.raises(StaleAttempt, match="attempt 1; a report for attempt 9 is stale"):
        result.raise_for_refusal()
    assert q.get(a.id).status is S.SUCCEEDED
    assert q.get(b.id).status is S.CLAIMED


def test_lease_expiry_redelivers_and_fences_the_old_holder(backend: Backend) -> None:
    q = backend.queue
    q.enqueue([_task(backend)])
    first = q.claim(backend.hosts[0], lease_seconds=30)[0]
    later = utcnow() + timedelta(seconds=31)
    reaped = q.reap(at=later)
    assert [t.id for t in reaped.requeued] == [first.id]
    assert reaped.requeued[0].error_message == "lease expired on attempt 1"
    # backoff: base 2 s after attempt 1
    assert q.claim(backend.hosts[0], at=later + timedelta(seconds=1)) == []
    second = q.claim(backend.hosts[0], at=later + timedelta(seconds=3))[0]
    assert second.id == first.id and second.attempt == 2
    with pytest.raises(StaleAttempt, match="attempt 2; a report for attempt 1 is stale"):
        q.report(backend.hosts[0], [Report(first.id, 1, S.SUCCEEDED)]).raise_for_refusal()
    assert q.report(backend.hosts[0], [Report(first.id, 2, S.SUCCEEDED)]).applied == 1
    assert q.get(first.id).status is S.SUCCEEDED


def test_heartbeat_keeps_a_lease_alive(backend: Backend) -> None:
    q = backend.queue
    q.enqueue([_task(backend)])
    q.claim(backend.hosts[0], lease_seconds=10)
    soon = utcnow() + timedelta(seconds=8)
    assert q.heartbeat(backend.hosts[0], lease_seconds=10, at=soon) == 1
    assert q.reap(at=soon + timedelta(seconds=5)).requeued == []
    assert len(q.reap(at=soon + timedelta(seconds=11)).requeued) == 1


def test_attempts_run_out_into_dead(backend: Backend) -> None:
    q = backend.queue
    q.enqueue([_task(backend, max_attempts=2)])
    at = utcnow()
    for _ in range(2):
        assert len(q.claim(backend.hosts[0], lease_seconds=1, at=at)) == 1
        at += timedelta(seconds=60)  # the lease expires
        result = q.reap(at=at)
        at += timedelta(seconds=10)  # past the backoff
    assert [t.status for t in result.dead] == [S.DEAD]
    assert result.dead[0].error_message == "lease expired on attempt 2"
    assert q.claim(backend.hosts[0], at=at + timedelta(hours=1)) == []


def test_cancel_pending_at_once_and_held_on_next_poll(backend: Backend) -> None:
    q = backend.queue
    held, pending = q.enqueue(
        [
            _task(backend, experiment_id=backend.experiment),
            _task(backend, experiment_id=backend.experiment, priority=-1),
        ]
    )
    q.claim(backend.hosts[0])
    cancelled = q.cancel_experiment(backend.experiment)
    assert {t.id: t.status for t in cancelled} == {held: S.CLAIMED, pending: S.CANCELLED}
    assert [t.id for t in q.cancellations(backend.hosts[0])] == [held]
    q.report(backend.hosts[0], [Report(held, 1, S.CANCELLED)]).raise_for_refusal()
    assert q.get(held).status is S.CANCELLED
    assert q.cancellations(backend.hosts[0]) == []


def test_cancelled_report_needs_a_cancel_request(backend: Backend) -> None:
    q = backend.queue
    q.enqueue([_task(backend)])
    task = q.claim(backend.hosts[0])[0]
    with pytest.raises(InvalidTransition):
        q.report(backend.hosts[0], [Report(task.id, 1, S.CANCELLED)]).raise_for_refusal()


def test_an_expired_cancelled_task_ends_cancelled(backend: Backend) -> None:
    q = backend.queue
    task = q.enqueue([_task(backend)])[0]
    q.claim(backend.hosts[0], lease_seconds=1)
    q.cancel(task)
    result = q.reap(at=utcnow() + timedelta(seconds=5))
    assert [t.status for t in result.cancelled] == [S.CANCELLED]


def test_retention_and_stats(backend: Backend) -> None:
    q = backend.queue
    q.enqueue([_task(backend), _task(backend), _task(backend, host=1)])
    task = q.claim(backend.hosts[0])[0]
    q.report(backend.hosts[0], [Report(task.id, 1, S.SUCCEEDED)])
    stats = q.stats()
    assert stats.depth[S.PENDING] == 2 and stats.depth[S.SUCCEEDED] == 1
    assert stats.pending_per_host == {backend.hosts[0]: 1, backend.hosts[1]: 1}
    assert stats.oldest_pending_seconds is not None and stats.oldest_pending_seconds >= 0
    assert q.purge_finished(timedelta(days=7)) == 0
    assert q.purge_finished(timedelta(days=7), at=utcnow() + timedelta(days=8)) == 1
    with pytest.raises(NotFound):
        q.get(task.id)


def test_unknown_host_or_experiment_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound, match="host"):
        backend.queue.enqueue([NewTask(uuid.uuid4(), TaskType.NOOP, TaskAction.RUN, {})])
    if not isinstance(backend.queue, MemoryTaskQueue):
        with pytest.raises(NotFound, match="experiment"):
            backend.queue.enqueue([_task(backend, experiment_id=uuid.uuid4())])


def _checked_and_found_nothing(q: TaskQueue, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """An event set once a waiter has looked for work and found none: from then on only a
    notification can wake it."""
    looked = threading.Event()
    original = q.has_claimable

    def has_claimable(host_id: uuid.UUID, **kw: object) -> bool:
        found = original(host_id, **kw)  # type: ignore[arg-type]
        if not found:
            looked.set()
        return found

    monkeypatch.setattr(q, "has_claimable", has_claimable)
    return looked


def test_a_waiting_consumer_wakes_by_notification(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    q = backend.queue
    looked = _checked_and_found_nothing(q, monkeypatch)
    woke: list[bool] = []
    thread = threading.Thread(target=lambda: woke.append(wait_for_tasks(q, backend.hosts[0], 60)))
    thread.start()
    assert looked.wait(30)
    q.enqueue([_task(backend)])
    thread.join(timeout=30)
    assert woke == [True]  # a timeout would have returned False after 60 s


def test_cancellation_wakes_the_holders_poll(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    q = backend.queue
    task = q.enqueue([_task(backend)])[0]
    q.claim(backend.hosts[0])
    looked = _checked_and_found_nothing(q, monkeypatch)
    woke: list[bool] = []
    thread = threading.Thread(target=lambda: woke.append(wait_for_tasks(q, backend.hosts[0], 60)))
    thread.start()
    assert looked.wait(30)
    q.cancel(task)
    thread.join(timeout=30)
    assert woke == [True]


def test_a_wait_times_out_without_work_and_ignores_other_hosts(backend: Backend) -> None:
    q = backend.queue
    q.enqueue([_task(backend, host=1)])
    assert wait_for_tasks(q, backend.hosts[0], timeout=0.2) is False


def test_an_async_watch_is_woken_by_an_enqueue_after_it_began(backend: Backend) -> None:
    q = backend.queue
    q.listen()  # as the API does as it starts (a listener connecting later wakes every watch)
    host = backend.hosts[0]

    async def scenario() -> tuple[bool, bool]:
        with q.watch(host) as wakeup:
            assert q.claim(host) == []  # as a poll does: claim after the watch began
            await asyncio.to_thread(q.enqueue, [_task(backend)])  # before the wait: not missed
            first = await wakeup.wait(30)
        with q.watch(host) as wakeup:
            waiting = asyncio.create_task(wakeup.wait(60))
            await asyncio.sleep(0.1)
            assert not waiting.done()
            await asyncio.to_thread(q.cancel, q.claim(host)[0].id)  # a cancellation wakes too
            return first, await asyncio.wait_for(waiting, timeout=30)

    assert asyncio.run(scenario()) == (True, True)


def test_an_async_watch_times_out_without_work_for_its_host(backend: Backend) -> None:
    q = backend.queue
    q.listen()  # as the API does as it starts (a listener connecting later wakes every watch)

    async def scenario() -> bool:
        with q.watch(backend.hosts[0]) as wakeup:
            await asyncio.to_thread(q.enqueue, [_task(backend, host=1)])
            return await wakeup.wait(0.3)

    assert asyncio.run(scenario()) is False


def test_an_async_watch_does_not_wait_for_the_listener(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-poll that finds the listener not connected (the database unreachable for it)
    must not hold up the API's event loop while the listener tries: it starts it and waits."""
    engine = make_engine(postgres_url)
    q = PostgresTaskQueue(engine)
    monkeypatch.setattr(q, "_conninfo", "host=127.0.0.1 port=1 connect_timeout=1")  # refused

    async def scenario() -> float:
        began = time.monotonic()
        with q.watch(uuid.uuid4()) as wakeup:
            entered = time.monotonic() - began
            assert await wakeup.wait(0.1) is False
        return entered

    try:
        assert asyncio.run(scenario()) < 5  # the old wait for the listener took 10 s
        assert q._listener is not None and not q._listener.ready.is_set()
    finally:
        q.close()
        engine.dispose()
