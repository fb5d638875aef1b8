"""The API's fast path: on PostgreSQL one statement each (``phoenix_core/sql/fast_path.sql``), which
must do exactly what the repositories do (the SQLite path, and the reference). Two hosts on one
database live the same story, one through each implementation, and every row, event and
notification they leave is compared."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, update

from phoenix_core.auth import Principal, Role, TokenKind, Unauthenticated, hash_token, new_token
from phoenix_core.errors import Conflict, DatabaseUnavailable, NotFound
from phoenix_core.fast_path import AgentWork, FastPath
from phoenix_core.fast_path import postgres as postgres_fast_path
from phoenix_core.fast_path.postgres import PostgresFastPath
from phoenix_core.fast_path.reference import RepositoryFastPath
from phoenix_core.lifecycle import ExperimentState
from phoenix_core.queue import NewTask, Report, open_queue
from phoenix_core.queue.base import TaskQueue
from phoenix_core.queue.waiters import Waiters
from phoenix_core.spec import ExperimentSpec
from phoenix_core.store.database import make_engine
from phoenix_core.store.experiments import ExperimentPage, ExperimentRepository, parse_page_cursor
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.migrate import upgrade
from phoenix_core.store.session import Store
from phoenix_core.store.tables import (
    ActivePipelineRow,
    ApiTokenRow,
    EventRow,
    ExperimentRow,
    HostRow,
)
from phoenix_core.store.tokens import TokenRepository
from phoenix_core.store.types import utcnow
from phoenix_core.wire import (
    ActivePipelineReport,
    ActivePipelineStatus,
    Heartbeat,
    HostStatus,
    ResourceUsage,
    TaskAction,
    TaskStatus,
    TaskType,
)
from support.postgres import ThrowawayPostgres
from support.specs import spec_data

SHA = hashlib.sha256(b"config").hexdigest()
P = ActivePipelineStatus


class Side:
    """One host, its own experiment (two variants) and one held task, beating through one
    implementation."""

    def __init__(
        self, store: Store, queue: TaskQueue, paths: Callable[[], FastPath], name: str
    ) -> None:
        self.store, self.queue, self.paths = store, queue, paths
        with store.session() as session:
            self.host = HostRepository(session).register(name, actor="t").id
            spec = ExperimentSpec.parse(spec_data(name=name, hosts=[name], host_selector=None))
            self.experiment = ExperimentRepository(session).create(spec, actor="t").id
            session.execute(
                update(ExperimentRow)
                .where(ExperimentRow.id == self.experiment)
                .values(state="running")
            )
            for variant in ("baseline", "candidate"):
                now = utcnow()
                session.add(
                    ActivePipelineRow(
                        host_id=self.host, experiment_id=self.experiment, variant=variant,
                        collector="prometheus-agent", config_sha256=SHA, ports={"http": 1},
                        status="starting", restarts=0, rendered_at=now, created_at=now,
                        updated_at=now,
                    )
                )  # fmt: skip
        queue.enqueue([NewTask(self.host, TaskType.NOOP, TaskAction.RUN, {"note": name})])
        (self.task,) = queue.claim(self.host, limit=1, lease_seconds=5)

    def beat(self, status: HostStatus, *pipelines: tuple[str, P, int]) -> int:
        return asyncio.run(self._beat(self.heartbeat(status, *pipelines)))

    def heartbeat(self, status: HostStatus, *pipelines: tuple[str, P, int]) -> Heartbeat:
        return Heartbeat(
            agent_version="0.1.0",
            status=status,
            resource_usage=ResourceUsage(
                cpu_percent=12.5, memory_percent=40, memory_bytes=2**30, disk_percent=70
            ),
            active_pipelines=[
                ActivePipelineReport(
                    experiment_id=self.experiment,
                    variant=variant,
                    config_sha256=SHA,
                    status=state,
                    pid=100 + restarts,
                    restarts=restarts,
                )
                for variant, state, restarts in pipelines
            ],
        )

    async def _beat(self, heartbeat: Heartbeat, host: uuid.UUID | None = None) -> int:
        paths = self.paths()  # (an asyncio pool lives in one event loop)
        await paths.open()
        try:
            return await paths.heartbeat(host or self.host, heartbeat, lease_seconds=600)
        finally:
            await paths.close()

    def finish_experiment(self) -> None:
        with self.store.session() as session:
            session.execute(
                update(ExperimentRow)
                .where(ExperimentRow.id == self.experiment)
                .values(state="stopped")
            )

    def state(self) -> dict[str, Any]:
        """Everything the heartbeats changed, without what differs between the two hosts."""
        with self.store.session() as session:
            host = session.get(HostRow, self.host)
            assert host is not None
            pipelines = session.execute(
                select(
                    ActivePipelineRow.variant,
                    ActivePipelineRow.status,
                    ActivePipelineRow.pid,
                    ActivePipelineRow.restarts,
                ).where(ActivePipelineRow.host_id == self.host)
            ).all()
            events = session.execute(
                select(EventRow.type, EventRow.actor, EventRow.data)
                .where(EventRow.host_id == self.host, EventRow.type != "host_registered")
                .order_by(EventRow.id)
            ).all()
        lease = self.queue.get(self.task.id).lease_expires_at
        assert lease is not None
        return {
            "host": (host.status, host.agent_version, host.resource_usage),
            "beat_recent": utcnow() - (host.last_heartbeat or utcnow()) < timedelta(minutes=1),
            "pipelines": sorted(tuple(p) for p in pipelines),
            "events": [(t, a.replace(host.hostname, "HOST"), d) for t, a, d in events],
            "lease_extended": lease - utcnow() > timedelta(minutes=5),
        }


@pytest.fixture
def sides(postgres_url: str) -> Iterator[tuple[Side, Side]]:
    engine = make_engine(postgres_url)
    store, queue = Store(engine), open_queue(engine)
    try:
        reference = Side(store, queue, lambda: RepositoryFastPath(store, queue), "ref-host")
        statement = Side(
            store, queue, lambda: PostgresFastPath(engine, queue.waiters, connections=2), "sql-host"
        )
        yield reference, statement
    finally:
        queue.close()
        store.dispose()


def _notifications(url: str) -> psycopg.Connection[Any]:
    listener = psycopg.connect(url.replace("+psycopg", ""), autocommit=True)
    listener.execute("LISTEN phoenix_live")
    listener.execute("LISTEN phoenix_events")
    return listener


def _heard(listener: psycopg.Connection[Any], sides: tuple[Side, Side]) -> list[list[Any]]:
    """What each side published since the last call: its live notices (host-specific fields
    blanked) and its events (by the host of the event row named)."""
    notes = list(listener.notifies(timeout=0.5))
    heard: list[list[Any]] = [[], []]
    for index, side in enumerate(sides):
        for note in notes:
            if note.channel == "phoenix_live":
                notice = json.loads(note.payload)
                if notice["host_id"] != str(side.host):
                    continue
                data = notice["data"]
                data["hostname"] = data["hostname"][:4]  # "ref-" / "sql-"
                data["active_pipelines"] = [
                    {**p, "experiment_id": "E"} for p in data["active_pipelines"]
                ]
                heard[index].append(("live", notice["type"], data))
            else:
                with side.store.session() as session:
                    event = session.get(EventRow, int(note.payload))
                assert event is not None
                if event.host_id == side.host:
                    heard[index].append(("event", event.type))
    return heard


def test_the_heartbeat_statement_does_what_the_repositories_do(
    sides: tuple[Side, Side], postgres_url: str
) -> None:
    story = [
        (HostStatus.HEALTHY, ("baseline", P.RUNNING, 0), ("candidate", P.RUNNING, 0)),
        (HostStatus.DEGRADED, ("baseline", P.CRASH_LOOPING, 6)),  # the candidate: gone
        (HostStatus.DEGRADED, ("baseline", P.CRASH_LOOPING, 6)),  # no change: no event
    ]
    with _notifications(postgres_url) as listener:
        _heard(listener, sides)  # (what setting up said)
        for status, *pipelines in story:
            extended = [side.beat(status, *pipelines) for side in sides]
            assert extended == [1, 1]
            reference_heard, statement_heard = _heard(listener, sides)
            assert [h[:2] for h in reference_heard] == [h[:2] for h in statement_heard]
            for ours, theirs in zip(reference_heard, statement_heard, strict=True):
                if ours[0] == "live":
                    assert (ours[2]["hostname"], theirs[2]["hostname"]) == ("ref-", "sql-")
                    assert ours[2] == {**theirs[2], "hostname": "ref-"}
            reference, statement = (side.state() for side in sides)
            assert reference == statement
        for side in sides:
            side.finish_experiment()
        for side in sides:
            side.beat(HostStatus.HEALTHY)  # after the experiment: an unlisted one is stopped
        reference, statement = (side.state() for side in sides)
        assert reference == statement
        assert reference["pipelines"] == [
            ("baseline", "stopped", None, 6),
            ("candidate", "gone", None, 0),
        ]
        assert [e[0] for e in reference["events"]] == ["host_status_changed"] * 3


def test_heartbeats_written_together_do_what_the_repositories_do_one_by_one(
    postgres_url: str,
) -> None:
    """Heartbeats of several hosts that arrive together go in one statement, an unknown and a
    decommissioned host among them refused as when alone."""
    engine = make_engine(postgres_url)
    store, queue = Store(engine), open_queue(engine)
    both = (("baseline", P.RUNNING, 0), ("candidate", P.RUNNING, 0))
    rounds = [
        [(HostStatus.HEALTHY, *both)] * 3,
        [
            (HostStatus.HEALTHY, *both),
            (HostStatus.DEGRADED, ("baseline", P.CRASH_LOOPING, 6)),  # the candidate: gone
            (HostStatus.HEALTHY,),  # both gone
        ],
    ]
    try:
        references = [
            Side(store, queue, lambda: RepositoryFastPath(store, queue), f"ref-{index}")
            for index in range(3)
        ]
        statements = [
            Side(store, queue, lambda: RepositoryFastPath(store, queue), f"sql-{index}")
            for index in range(4)
        ]
        retired = statements.pop()
        with store.session() as session:
            HostRepository(session).decommission(retired.host, actor="t")
            for group in (references, statements):  # one experiment on all three hosts
                for side in group[1:]:
                    side.experiment = group[0].experiment
                    session.execute(
                        update(ActivePipelineRow)
                        .where(ActivePipelineRow.host_id == side.host)
                        .values(experiment_id=side.experiment)
                    )

        async def together(story: list[Any]) -> tuple[list[Any], int]:
            paths = PostgresFastPath(engine, Waiters(), connections=2)
            await paths.open()
            try:
                asked = paths.pool.get_stats().get("requests_num", 0)
                beats = [
                    (side.host, side.heartbeat(status, *pipelines))
                    for side, (status, *pipelines) in zip(statements, story, strict=True)
                ]
                beats.append((uuid.uuid4(), retired.heartbeat(HostStatus.HEALTHY)))
                beats.append((retired.host, retired.heartbeat(HostStatus.HEALTHY)))
                outcomes = await asyncio.gather(
                    *(paths.heartbeat(*beat, lease_seconds=600) for beat in beats),
                    return_exceptions=True,
                )
                return outcomes, paths.pool.get_stats()["requests_num"] - asked
            finally:
                await paths.close()

        for story in rounds:
            for side, (status, *pipelines) in zip(references, story, strict=True):
                assert side.beat(status, *pipelines) == 1
            outcomes, statements_run = asyncio.run(together(story))
            assert outcomes[:3] == [1, 1, 1]
            assert isinstance(outcomes[3], NotFound)
            assert isinstance(outcomes[4], Conflict) and "decommissioned" in str(outcomes[4])
            assert statements_run == 1 + 2  # the batch; then why each of the two was refused
            for reference, statement in zip(references, statements, strict=True):
                assert reference.state() == statement.state()
        assert [side.state()["pipelines"] for side in statements] == [
            [("baseline", "running", 100, 0), ("candidate", "running", 100, 0)],
            [("baseline", "crash_looping", 106, 6), ("candidate", "gone", None, 0)],
            [("baseline", "gone", None, 0), ("candidate", "gone", None, 0)],
        ]
        assert [len(side.state()["events"]) for side in statements] == [
            1,
            2,
            1,
        ]  # to healthy; degraded
    finally:
        queue.close()
        store.dispose()


def test_unknown_and_decommissioned_hosts_are_refused_alike(sides: tuple[Side, Side]) -> None:
    heartbeat = Heartbeat(agent_version="0.1.0", status=HostStatus.HEALTHY)
    for side in sides:
        with pytest.raises(NotFound):
            asyncio.run(side._beat(heartbeat, uuid.uuid4()))
        with side.store.session() as session:
            HostRepository(session).decommission(side.host, actor="t")
        with pytest.raises(Conflict, match="decommissioned"):
            asyncio.run(side._beat(heartbeat))


def test_a_poll_claims_and_lists_cancellations_as_the_queue_does(
    sides: tuple[Side, Side],
) -> None:
    def story(side: Side) -> tuple[list[str], list[int], list[str], list[int], list[int]]:
        side.queue.enqueue(
            [
                NewTask(side.host, TaskType.NOOP, TaskAction.RUN, {"note": n, "big": 2**70},
                        priority=priority)
                for n, priority in [("low", 0), ("high", 5), ("mid", 1)]
            ]
        )  # fmt: skip
        side.queue.cancel(side.task.id)  # the held task: the agent is asked to stop it

        async def polls() -> list[AgentWork]:
            paths = side.paths()
            await paths.open()
            try:  # the third finds nothing to claim, and still the cancellation
                return [await paths.poll(side.host, limit=2, lease_seconds=60) for _ in "123"]
            finally:
                await paths.close()

        first, second, third = asyncio.run(polls())
        assert third.claimed == []
        for task in first.claimed + second.claimed:
            assert (task.host_id, task.attempt, task.payload["big"]) == (side.host, 1, 2**70)
            assert task.lease_expires_at is not None
            assert task.lease_expires_at - utcnow() > timedelta(seconds=50)
        held = [side.task.id]
        return (
            [t.payload["note"] for t in first.claimed],
            [i - held[0] for i in first.cancellations],
            [t.payload["note"] for t in second.claimed],
            [i - held[0] for i in second.cancellations],
            [i - held[0] for i in third.cancellations],
        )

    reference, statement = (story(side) for side in sides)
    assert reference == statement == (["high", "mid"], [0], ["low"], [0], [0])


def test_a_token_lookup_is_the_repository_s(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    store, queue = Store(engine), open_queue(engine)
    try:
        with store.session() as session:
            tokens = TokenRepository(session)
            user = tokens.create(TokenKind.USER, "u", actor="t", role=Role.OPERATOR)[1]
            revoked = tokens.create(TokenKind.USER, "r", actor="t", role=Role.VIEWER)[1]
            expired = tokens.create(
                TokenKind.ENROLMENT, "e", actor="t", expires_in=timedelta(seconds=-1)
            )[1]
            tokens.revoke(TokenKind.USER, "r", actor="t")

        async def look_up(paths: FastPath, token: str) -> Principal | str:
            await paths.open()
            try:
                return await paths.principal(token)
            except Unauthenticated as exc:
                return str(exc)
            finally:
                await paths.close()

        def last_used(token: str) -> datetime | None:
            with store.session() as session:
                row = session.scalar(
                    select(ApiTokenRow).where(ApiTokenRow.token_hash == hash_token(token))
                )
                return row.last_used_at if row else None

        def set_last_used(token: str, when: datetime | None) -> None:
            with store.session() as session:
                session.execute(
                    update(ApiTokenRow)
                    .where(ApiTokenRow.token_hash == hash_token(token))
                    .values(last_used_at=when)
                )

        answers = {}
        for token in (user, revoked, expired, new_token(TokenKind.HOST)):
            set_last_used(token, None)
            reference = asyncio.run(look_up(RepositoryFastPath(store, queue), token))
            written = last_used(token)
            set_last_used(token, None)
            statement = asyncio.run(
                look_up(PostgresFastPath(engine, Waiters(), connections=1), token)
            )
            assert reference == statement
            assert (written is None) == (last_used(token) is None)
            answers[token] = statement
        assert answers[user] == Principal(
            token_id=answers[user].token_id,  # type: ignore[union-attr]
            kind=TokenKind.USER,
            name="u",
            role=Role.OPERATOR,
        )
        assert answers[revoked] == "The token 'r' was revoked."
        assert answers[expired] == "The token 'e' expired."
        assert last_used(revoked) is None and last_used(expired) is None

        statement_paths = lambda: PostgresFastPath(engine, Waiters(), connections=1)  # noqa: E731
        first = last_used(user)
        asyncio.run(look_up(statement_paths(), user))
        assert last_used(user) == first  # written at most once a minute
        set_last_used(user, utcnow() - timedelta(minutes=2))
        asyncio.run(look_up(statement_paths(), user))
        used = last_used(user)
        assert used is not None and utcnow() - used < timedelta(seconds=30)
    finally:
        queue.close()
        store.dispose()


def test_the_statements_ride_out_a_database_restart() -> None:
    """While PostgreSQL is down a heartbeat is refused as unavailable (the API answers 503);
    once it is back the pool's broken connections are replaced and heartbeats go through."""
    server = ThrowawayPostgres()
    server.start()
    try:
        with psycopg.connect(server.url().replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute("CREATE DATABASE restarts")
        engine = make_engine(server.url("restarts"))
        upgrade(engine)
        store = Store(engine)
        with store.session() as session:
            host = HostRepository(session).register("web-1", actor="t").id
        heartbeat = Heartbeat(agent_version="0.1.0", status=HostStatus.HEALTHY)

        async def story() -> None:
            paths = PostgresFastPath(engine, Waiters(), connections=3)
            await paths.open()
            try:
                await paths.pool.wait()  # all three connections open
                assert await paths.heartbeat(host, heartbeat, lease_seconds=60) == 0
                await asyncio.to_thread(server.shut_down)
                with pytest.raises(DatabaseUnavailable, match="Cannot connect to PostgreSQL"):
                    await paths.heartbeat(host, heartbeat, lease_seconds=60)
                await asyncio.to_thread(server.resume)
                for _ in range(5):  # every pooled connection was broken: each is replaced
                    assert await paths.heartbeat(host, heartbeat, lease_seconds=60) == 0
            finally:
                await paths.close()

        asyncio.run(story())
        store.dispose()
    finally:
        server.stop()


def test_the_page_statement_pages_as_the_repository_does(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    store, queue = Store(engine), open_queue(engine)
    try:
        created = utcnow()
        with store.session() as session:
            repository = ExperimentRepository(session)
            for index in range(7):
                spec = ExperimentSpec.parse(spec_data(name=f"e{index}"))
                record = repository.create(spec, actor="t")
                session.execute(
                    update(ExperimentRow)
                    .where(ExperimentRow.id == record.id)  # ties on created_at: id decides
                    .values(
                        # (one on a whole second: no fraction written, as pydantic does)
                        created_at=(created.replace(microsecond=0) if index == 6 else created)
                        - timedelta(seconds=index // 2),
                        state="running" if index % 3 == 0 else "draft",
                    )
                )

        async def pages(paths: FastPath, state: ExperimentState | None) -> list[dict]:
            await paths.open()
            try:
                found, before = [], None
                while True:
                    page = json.loads(
                        await paths.experiment_page(state=state, limit=3, before=before)
                    )
                    ExperimentPage.model_validate(page)  # the API's schema
                    found.append(page)
                    if page["next_cursor"] is None:
                        return found
                    before = parse_page_cursor(page["next_cursor"])
            finally:
                await paths.close()

        counts = {None: 7, ExperimentState.RUNNING: 3, ExperimentState.COMPLETED: 0}
        for state, count in counts.items():
            reference = asyncio.run(pages(RepositoryFastPath(store, queue), state))
            statement = asyncio.run(
                pages(PostgresFastPath(engine, Waiters(), connections=1), state)
            )
            assert reference == statement  # every field, timestamps written alike, cursors
            assert sum(len(page["items"]) for page in reference) == count
            if count:
                assert reference[0]["items"][0]["variants"] == ["baseline", "topk20", "hybrid"]
                assert reference[0]["items"][0]["created_at"].endswith("Z")
    finally:
        queue.close()
        store.dispose()


def test_pages_asked_for_together_share_a_statement(postgres_url: str) -> None:
    """Thirty dashboards asking for the same page at once: the first read, and one more begun
    after all the others arrived, answer them all (the others never get the first's answer,
    which began before they asked)."""
    engine = make_engine(postgres_url)
    store = Store(engine)
    try:
        with store.session() as session:
            for index in range(3):
                ExperimentRepository(session).create(
                    ExperimentSpec.parse(spec_data(name=f"shared {index}")), actor="t"
                )

        async def together() -> tuple[list[bytes], int, bytes]:
            paths = PostgresFastPath(engine, Waiters(), connections=4)
            await paths.open()
            try:
                asked = paths.pool.get_stats().get("requests_num", 0)
                pages = await asyncio.gather(
                    *(paths.experiment_page(state=None, limit=20, before=None) for _ in range(30))
                )
                statements = paths.pool.get_stats().get("requests_num", 0) - asked
                alone = await paths.experiment_page(state=None, limit=20, before=None)
                return pages, statements, alone
            finally:
                await paths.close()

        pages, statements, alone = asyncio.run(together())
        assert statements == 2
        assert set(pages) == {alone}
        assert [item["name"] for item in json.loads(alone)["items"]] == [
            "shared 2", "shared 1", "shared 0"
        ]  # fmt: skip
    finally:
        store.dispose()


class _Clock:
    """A monotonic clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _IdleHost:
    """One host, the queue (listening, as the API's) and the fast path: how many statements
    each waiting poll of the host costs. The fast path's clock moves only when the test moves
    it, so however late a poll runs on a busy machine, no idleness expires by itself."""

    def __init__(self, postgres_url: str) -> None:
        self.engine = make_engine(postgres_url)
        self.queue = open_queue(self.engine)
        self.queue.listen()  # notifications reach queue.waiters, as in the API
        with Store(self.engine).session() as session:
            self.host = HostRepository(session).register(f"idle-{uuid.uuid4()}", actor="t").id
        self.clock = _Clock()
        self.paths = PostgresFastPath(
            self.engine, self.queue.waiters, connections=1, clock=self.clock
        )

    @classmethod
    def live(cls, postgres_url: str, story: Callable[[_IdleHost], Awaitable[None]]) -> None:
        """Run ``story`` with the fast path open, then close everything."""
        idle = cls(postgres_url)

        async def run() -> None:
            await idle.paths.open()
            try:
                await story(idle)
            finally:
                await idle.paths.close()

        try:
            asyncio.run(run())
        finally:
            idle.queue.close()
            idle.engine.dispose()

    async def statements_per_poll(
        self, polls: int = 3, *, waiting: bool = True
    ) -> tuple[list[int], list[AgentWork]]:
        counts, answers = [], []
        for _ in range(polls):
            before = self.paths.pool.get_stats().get("requests_num", 0)
            answers.append(
                await self.paths.poll(self.host, limit=5, lease_seconds=60, waiting=waiting)
            )
            counts.append(self.paths.pool.get_stats().get("requests_num", 0) - before)
        return counts, answers

    async def heard(self, change: Callable[[], object]) -> None:
        """Make the change and wait until this process has heard of it."""
        with self.queue.watch(self.host) as wakeup:
            await asyncio.to_thread(change)
            assert await wakeup.wait(10), "the change was not notified"

    def task(self, note: str, *, not_before: datetime | None = None) -> NewTask:
        return NewTask(self.host, TaskType.NOOP, TaskAction.RUN, {"note": note},
                       not_before=not_before)  # fmt: skip


def test_a_waiting_poll_of_a_host_known_idle_runs_no_statement_until_work_is_heard_of(
    postgres_url: str,
) -> None:
    """An idle fleet's re-polls cost the database nothing: once a poll found nothing at all
    for a host, its waiting polls are answered without a statement, until a notification for
    it is heard (here an enqueue; then the task it holds is nothing to claim: idle again)."""

    async def story(idle: _IdleHost) -> None:
        counts, answers = await idle.statements_per_poll()
        assert counts == [1, 0, 0]
        assert answers == [AgentWork([], [])] * 3
        counts, _ = await idle.statements_per_poll(2, waiting=False)
        assert counts == [1, 1]  # a poll that will not wait always looks
        await idle.heard(lambda: idle.queue.enqueue([idle.task("now")]))
        counts, answers = await idle.statements_per_poll()
        assert counts == [1, 1, 0]  # the claim; the task is held, nothing else: idle
        assert [t.payload["note"] for t in answers[0].claimed] == ["now"]
        await idle.heard(idle.queue.waiters.notify_all)  # as the listener reconnecting
        counts, _ = await idle.statements_per_poll()
        assert counts == [1, 0, 0]

    _IdleHost.live(postgres_url, story)


def test_a_host_with_tasks_due_later_or_to_stop_is_looked_at_on_every_poll(
    postgres_url: str,
) -> None:
    """Nothing to claim is not idle while a task waits to be due (no notification comes when
    it is), a held task is to be stopped, or a task is back from an expired lease (its
    requeue is notified)."""

    async def story(idle: _IdleHost) -> None:
        later = utcnow() + timedelta(hours=1)
        await idle.heard(lambda: idle.queue.enqueue([idle.task("later", not_before=later)]))
        counts, answers = await idle.statements_per_poll()
        assert counts == [1, 1, 1]
        assert answers == [AgentWork([], [])] * 3
        held = idle.queue.claim(idle.host, limit=1, at=later)[0]
        await idle.heard(lambda: idle.queue.cancel(held.id))
        counts, answers = await idle.statements_per_poll()
        assert counts == [1, 1, 1]
        assert answers == [AgentWork([], [held.id])] * 3
        idle.queue.report(idle.host, [Report(held.id, 1, TaskStatus.CANCELLED)])
        counts, _ = await idle.statements_per_poll(2)
        assert counts == [1, 0]  # reported: nothing pending, nothing to stop
        await idle.heard(lambda: idle.queue.enqueue([idle.task("retried")]))
        (claimed,) = (await idle.paths.poll(idle.host, limit=5, lease_seconds=1)).claimed
        expired = utcnow() + timedelta(seconds=30)
        await idle.heard(lambda: idle.queue.reap(at=expired))  # back to pending, later
        counts, _ = await idle.statements_per_poll()
        assert counts == [1, 1, 1]
        assert idle.queue.get(claimed.id).status is TaskStatus.PENDING

    _IdleHost.live(postgres_url, story)


def test_an_idle_host_is_looked_at_while_notifications_go_unheard_and_after_a_while(
    postgres_url: str,
) -> None:
    """While the queue's listening connection is down every poll looks; and
    IDLE_RECHECK_SECONDS bounds believing a host idle, should a notification be lost unseen:
    believed idle until the bound (on the fast path's clock, moved here by hand), looked at
    once it has passed, then idle again."""
    recheck = postgres_fast_path.IDLE_RECHECK_SECONDS
    assert recheck >= 2  # whole seconds below: no rounding at the bound

    async def story(idle: _IdleHost) -> None:
        counts, _ = await idle.statements_per_poll()
        assert counts == [1, 0, 0]
        idle.queue.waiters.listening = False  # as the listener does when its connection fails
        counts, _ = await idle.statements_per_poll()
        assert counts == [1, 1, 1]
        idle.queue.waiters.listening = True  # and when it has connected again
        await idle.heard(idle.queue.waiters.notify_all)
        counts, _ = await idle.statements_per_poll()
        assert counts == [1, 0, 0]
        idle.clock.advance(recheck - 1)
        counts, _ = await idle.statements_per_poll(2)
        assert counts == [0, 0]  # a second before the bound: still believed idle
        idle.clock.advance(1)
        counts, _ = await idle.statements_per_poll()
        assert counts == [1, 0, 0]

    _IdleHost.live(postgres_url, story)
