"""Benchmark: Phoenix's PostgreSQL task queue against pgqueuer, procrastinate and a bare
``FOR UPDATE SKIP LOCKED`` loop, in one run on one throwaway PostgreSQL.

    .venv/bin/pip install -e '.[bench]'      # pgqueuer and procrastinate (bench-only)
    .venv/bin/python bench/task_queue.py [--quick]

Prints one table: enqueue/s (batches of 1 and 100); claim+report/s (drain of a pre-filled queue
by 4 or 8 consumer processes claiming 1, 10 or 100 at a time; each system's own claim and
acknowledge path); enqueue -> wake latency p50/p99 (a consumer waiting on the system's
notification, notifications on as in production). Every measure of every system gets a fresh
database, dropped after it; the systems take turns measure by measure (their order rotating
from round to round), and the table gives the median of the rounds, then every round's value.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import multiprocessing
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.postgres import ThrowawayPostgres  # noqa: E402
from support.processes import exit_on_sigterm  # noqa: E402
from support.waiting import wait_for_tasks  # noqa: E402

# --- systems --------------------------------------------------------------------------------


class System:
    name = ""
    batches: tuple[int, ...] = (1, 10, 100)

    def __init__(self, url: str) -> None:
        self.url = url  # SQLAlchemy-style URL
        self.dsn = url.replace("postgresql+psycopg://", "postgresql://")

    def setup(self) -> None: ...
    def enqueue(self, count: int, batch: int) -> None: ...
    def consume(self, batch: int) -> int:
        """Run in a child process: claim and acknowledge until the queue is empty."""
        raise NotImplementedError

    def wake_latencies(self, samples: int) -> list[float]:
        raise NotImplementedError


class Phoenix(System):
    name = "phoenix"

    def _queue(self):  # type: ignore[no-untyped-def]
        from phoenix_core.queue import open_queue
        from phoenix_core.store.database import make_engine

        return open_queue(make_engine(self.url, pool_size=2))

    def setup(self) -> None:
        from phoenix_core.store.database import make_engine
        from phoenix_core.store.hosts import HostRepository
        from phoenix_core.store.migrate import upgrade
        from phoenix_core.store.session import Store

        engine = make_engine(self.url)
        upgrade(engine)
        with Store(engine).session() as session:
            self.host = HostRepository(session).register("bench", actor="bench").id
        engine.dispose()

    def _host(self) -> uuid.UUID:
        with psycopg.connect(self.dsn) as connection:
            row = connection.execute("SELECT id FROM hosts LIMIT 1").fetchone()
        assert row is not None
        return uuid.UUID(str(row[0]))

    def enqueue(self, count: int, batch: int) -> None:
        from phoenix_core.queue import NewTask
        from phoenix_core.wire import TaskAction, TaskType

        queue, host = self._queue(), self._host()
        task = NewTask(host, TaskType.NOOP, TaskAction.RUN, {"note": "bench"})
        for _ in range(count // batch):
            queue.enqueue([task] * batch)

    def consume(self, batch: int) -> int:
        from phoenix_core.queue import Report
        from phoenix_core.wire import TaskStatus

        queue, host, done = self._queue(), self._host(), 0
        while tasks := queue.claim(host, limit=batch):
            queue.report(host, [Report(t.id, t.attempt, TaskStatus.SUCCEEDED) for t in tasks])
            done += len(tasks)
        return done

    def wake_latencies(self, samples: int) -> list[float]:
        from phoenix_core.queue import NewTask
        from phoenix_core.wire import TaskAction, TaskType

        queue, host = self._queue(), self._host()
        task = NewTask(host, TaskType.NOOP, TaskAction.RUN, {"note": "wake"})

        def waiter(woke: list[float]) -> None:
            while len(woke) < samples:
                if wait_for_tasks(queue, host, timeout=5):
                    woke.append(time.perf_counter())  # woken; then take the task
                    queue.claim(host, limit=10)

        return _measure_wakes(samples, waiter, lambda: queue.enqueue([task]), queue.waiters.count)


class Bare(System):
    """The practical ceiling: a minimal table, SKIP LOCKED claim, one UPDATE to acknowledge."""

    name = "bare SQL"

    def setup(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            connection.execute(
                "CREATE TABLE jobs (id bigserial PRIMARY KEY, payload jsonb NOT NULL,"
                " status text NOT NULL DEFAULT 'pending')"
            )
            connection.execute("CREATE INDEX jobs_pending ON jobs (id) WHERE status = 'pending'")

    def enqueue(self, count: int, batch: int) -> None:
        with psycopg.connect(self.dsn) as connection:
            for _ in range(count // batch):
                connection.execute(
                    "WITH n AS (INSERT INTO jobs (payload) SELECT '{}' FROM generate_series(1, %s)"
                    " RETURNING 1) SELECT pg_notify('jobs', 'new') FROM (SELECT 1) x",
                    (batch,),
                )
                connection.commit()

    def consume(self, batch: int) -> int:
        done = 0
        with psycopg.connect(self.dsn) as connection:
            while True:
                ids = [r[0] for r in connection.execute(
                    "UPDATE jobs SET status = 'running' WHERE id IN (SELECT id FROM jobs"
                    " WHERE status = 'pending' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
                    " RETURNING id", (batch,)).fetchall()]  # fmt: skip
                connection.commit()
                if not ids:
                    return done
                connection.execute("UPDATE jobs SET status = 'done' WHERE id = ANY(%s)", (ids,))
                connection.commit()
                done += len(ids)

    def wake_latencies(self, samples: int) -> list[float]:
        listener = psycopg.connect(self.dsn, autocommit=True)
        listener.execute("LISTEN jobs")
        registered = [1]

        def waiter(woke: list[float]) -> None:
            for _ in listener.notifies(stop_after=samples):
                woke.append(time.perf_counter())

        try:
            return _measure_wakes(
                samples, waiter, lambda: self.enqueue(1, 1), lambda: registered[0]
            )
        finally:
            listener.close()


class PgQueuer(System):
    name = "pgqueuer"

    async def _queries(self):  # type: ignore[no-untyped-def]
        from pgqueuer.adapters.drivers.psycopg import PsycopgDriver
        from pgqueuer.queries import Queries

        connection = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        return connection, Queries(PsycopgDriver(connection))

    def setup(self) -> None:
        async def install() -> None:
            connection, queries = await self._queries()
            await queries.install()
            await connection.close()

        asyncio.run(install())

    def enqueue(self, count: int, batch: int) -> None:
        async def run() -> None:
            connection, queries = await self._queries()
            for _ in range(count // batch):
                await queries.enqueue(["noop"] * batch, [None] * batch, [0] * batch)
            await connection.close()

        asyncio.run(run())

    def consume(self, batch: int) -> int:
        from pgqueuer.ports.repository import EntrypointExecutionParameter

        async def run() -> int:
            connection, queries = await self._queries()
            entrypoints = {"noop": EntrypointExecutionParameter(concurrency_limit=0)}
            manager, done = uuid.uuid4(), 0
            while jobs := await queries.dequeue(
                batch_size=batch, entrypoints=entrypoints, queue_manager_id=manager,  # type: ignore[arg-type]
                global_concurrency_limit=None, heartbeat_timeout=timedelta(seconds=30),
            ):  # fmt: skip
                await queries.log_jobs([(job, "successful", None) for job in jobs])
                done += len(jobs)
            await connection.close()
            return done

        return asyncio.run(run())

    def wake_latencies(self, samples: int) -> list[float]:
        listener = psycopg.connect(self.dsn, autocommit=True)
        listener.execute('LISTEN "ch_pgqueuer"')

        def waiter(woke: list[float]) -> None:
            for _ in listener.notifies(stop_after=samples):
                woke.append(time.perf_counter())

        try:
            return _measure_wakes(samples, waiter, lambda: self.enqueue(1, 1), lambda: 1)
        finally:
            listener.close()


class Procrastinate(System):
    name = "procrastinate"
    batches = (1,)  # it fetches one job at a time

    def _app(self):  # type: ignore[no-untyped-def]
        import procrastinate

        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=self.dsn))
        woke: list[float] = []

        @app.task(name="noop")
        def noop() -> None:
            woke.append(time.perf_counter())

        return app, noop, woke

    def setup(self) -> None:
        app, _, _ = self._app()

        async def apply() -> None:
            async with app.open_async():
                await app.schema_manager.apply_schema_async()

        asyncio.run(apply())

    def enqueue(self, count: int, batch: int) -> None:
        app, noop, _ = self._app()

        async def run() -> None:
            async with app.open_async():
                for _ in range(count // batch):
                    if batch == 1:
                        await noop.defer_async()
                    else:
                        await noop.batch_defer_async(*([{}] * batch))

        asyncio.run(run())

    def consume(self, batch: int) -> int:
        app, _, woke = self._app()

        async def run() -> None:
            async with app.open_async():
                await app.run_worker_async(concurrency=1, wait=False, listen_notify=False)

        asyncio.run(run())
        return len(woke)

    def wake_latencies(self, samples: int) -> list[float]:
        app, noop, woke = self._app()
        sent: list[float] = []

        async def run() -> None:
            async with app.open_async():
                worker = asyncio.create_task(app.run_worker_async(concurrency=1, wait=True))
                await asyncio.sleep(1.0)  # the worker is listening
                for _ in range(samples):
                    before = len(woke)
                    sent.append(time.perf_counter())
                    await noop.defer_async()
                    while len(woke) == before:
                        await asyncio.sleep(0)
                await asyncio.sleep(0.5)  # let it record the last job's status
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker

        asyncio.run(run())
        return [w - s for s, w in zip(sent, woke, strict=True)]


# --- measurement ----------------------------------------------------------------------------


def _measure_wakes(
    samples: int,
    waiter: Callable[[list[float]], None],
    send: Callable[[], None],
    waiting: Callable[[], int],
) -> list[float]:
    woke: list[float] = []
    thread = threading.Thread(target=waiter, args=(woke,), daemon=True)
    thread.start()
    latencies = []
    for index in range(samples):
        while waiting() == 0:
            time.sleep(0.0005)
        time.sleep(0.005)  # the waiter is blocked, not racing the send
        started = time.perf_counter()
        send()
        while len(woke) <= index:
            time.sleep(0.0001)
        latencies.append(woke[index] - started)
    thread.join(timeout=5)
    return latencies


def _consumer(
    system: System,
    batch: int,
    start: multiprocessing.synchronize.Barrier,
    out: multiprocessing.Queue,
) -> None:  # type: ignore[name-defined]
    start.wait()
    out.put(system.consume(batch))


def drain(system: System, jobs: int, consumers: int, batch: int) -> float:
    """Jobs per second for ``consumers`` processes draining ``jobs`` pre-enqueued jobs."""
    system.enqueue(jobs, 100 if jobs % 100 == 0 else 1)
    context = multiprocessing.get_context("fork")
    start = context.Barrier(consumers + 1)
    results = context.Queue()
    processes = [context.Process(target=_consumer, args=(system, batch, start, results))
                 for _ in range(consumers)]  # fmt: skip
    for process in processes:
        process.start()
    start.wait()
    began = time.perf_counter()
    done = sum(results.get(timeout=600) for _ in processes)
    elapsed = time.perf_counter() - began
    for process in processes:
        process.join()
    if done != jobs:
        raise RuntimeError(f"{system.name}: {done} of {jobs} jobs done")
    return jobs / elapsed


def enqueue_rate(system: System, jobs: int, batch: int) -> float:
    began = time.perf_counter()
    system.enqueue(jobs, batch)
    return jobs / (time.perf_counter() - began)


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def _fresh_system(server: ThrowawayPostgres, kind: type[System], tag: str) -> System:
    """A system on a database of its own, schema installed."""
    with psycopg.connect(server.url().replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {tag}")  # type: ignore[arg-type]
    system = kind(server.url(tag))
    system.setup()
    return system


def _drop(server: ThrowawayPostgres, tag: str) -> None:
    """Drop a measured database, so no later measure shares the machine with its vacuuming."""
    with psycopg.connect(server.url().replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE {tag} WITH (FORCE)")  # type: ignore[arg-type]


class Measure:
    """One row of the table: runs one system on a fresh database and returns a value."""

    def __init__(self, label: str, run: Callable[[System], float], batch: int = 1) -> None:
        self.label, self.run, self.batch = label, run, batch


def measures(scale: int) -> list[Measure]:
    rows = [
        Measure("enqueue/s, batch 1", lambda s: enqueue_rate(s, 2000 // scale, 1)),
        Measure("enqueue/s, batch 100", lambda s: enqueue_rate(s, 20000 // scale, 100)),
    ]
    for consumers in (4, 8):
        for batch in (1, 10, 100):
            jobs = (2000 if batch == 1 else 20000) // scale
            rows.append(
                Measure(
                    f"claim+report/s, {consumers} consumers, batch {batch}",
                    functools.partial(drain, jobs=jobs, consumers=consumers, batch=batch),
                    batch,
                )
            )
    return rows


def _wake_p50_p99(system: System, samples: int) -> tuple[float, float]:
    ms = [value * 1000 for value in system.wake_latencies(samples)]
    return percentile(ms, 50), percentile(ms, 99)


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, one round (smoke run)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measure (default 3)")
    parser.add_argument("--only", nargs="*", help="systems to run (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # peers' start-up chatter stays out of the table
    scale, rounds = (10, 1) if args.quick else (1, args.rounds)
    everyone = (Phoenix, Bare, PgQueuer, Procrastinate)
    kinds = [k for k in everyone if not args.only or k.name in args.only]
    server = ThrowawayPostgres()
    server.start()
    values: dict[tuple[str, str], list[float]] = {}
    wakes: dict[str, list[tuple[float, float]]] = {}
    try:
        for round_ in range(rounds):
            order = kinds[round_ % len(kinds) :] + kinds[: round_ % len(kinds)]  # rotate
            for index, measure in enumerate(measures(scale)):
                for kind in order:
                    if measure.batch not in kind.batches:
                        continue
                    tag = f"bench_r{round_}_m{index}_{kind.__name__.lower()}"
                    value = measure.run(_fresh_system(server, kind, tag))
                    values.setdefault((kind.name, measure.label), []).append(value)
                    _drop(server, tag)
            for kind in order:
                tag = f"bench_r{round_}_wake_{kind.__name__.lower()}"
                wakes.setdefault(kind.name, []).append(
                    _wake_p50_p99(_fresh_system(server, kind, tag), 200 // scale)
                )
                _drop(server, tag)
            print(f"... round {round_ + 1} of {rounds} done", file=sys.stderr, flush=True)
    finally:
        server.stop()
    print_table(kinds, measures(scale), values, wakes)


def print_table(
    kinds: list[type[System]],
    rows: list[Measure],
    values: dict[tuple[str, str], list[float]],
    wakes: dict[str, list[tuple[float, float]]],
) -> None:
    """Medians over the rounds; the phoenix / bare column is the ratio of the medians."""
    names = [k.name for k in kinds]
    ratio = "phoenix" in names and "bare SQL" in names
    header = ["measure (median of rounds)", *names] + (["phoenix / bare"] if ratio else [])
    table = [header]
    for measure in rows:
        cells = [measure.label]
        medians = {}
        for name in names:
            got = values.get((name, measure.label))
            medians[name] = statistics.median(got) if got else None
            cells.append(f"{medians[name]:,.0f}" if got else "—")
        if ratio:
            cells.append(f"{medians['phoenix'] / medians['bare SQL']:.0%}")
        table.append(cells)
    wake = ["enqueue->wake p50 / p99 (ms)"]
    for name in names:
        p50 = statistics.median(w[0] for w in wakes[name])
        p99 = statistics.median(w[1] for w in wakes[name])
        wake.append(f"{p50:.2f} / {p99:.2f}")
    table.append(wake + ([""] if ratio else []))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = zip(row, widths, strict=True)
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells)))
    spread = [
        f"{name} {label}: " + ", ".join(f"{v:,.0f}" for v in got)
        for (name, label), got in values.items()
        if len(got) > 1
    ]
    if spread:
        print("\nEvery round (in order):")
        print("\n".join(spread))


if __name__ == "__main__":
    main()
