"""Benchmark: one API process on a throwaway PostgreSQL holding 1,000 agents' long-polls, with
16 connections of wrk (another process) on ordinary endpoints; then enqueue -> agent delivery.

    apt-get install wrk                       # the load tool (Debian package)
    .venv/bin/python bench/api.py [--agents 1000] [--seconds 10] [--rounds 3] [--controller-apart]

Prints one table: p50/p99 of ``GET /healthz`` (no authentication, no database: the floor), of
``GET /api/v1/experiments`` (a page of 20) and of ``POST /agent/v1/heartbeat`` (each of wrk's
two threads walking its own half of the hosts, so that no host has two heartbeats in flight,
as with real agents) at 16 connections while the long-polls are held, each also without them
for comparison, each the median of ``--rounds`` wrk runs taking turns with the other endpoints
(every run listed after it: on a shared machine one 10 s run can be 30 % off); enqueue -> the
waiting agent has the task, p50/p99 over 200 tasks enqueued one at a time to random hosts; the
API's RSS before and with the long-polls held. The simulated agents live through the whole run
as a fleet does: each heartbeats every 10 s with its own host token (the agent's default
interval; hosts that stop beating go offline, and the controller would mark them so during the
measurements) and, for the second half, holds ``GET /agent/v1/tasks?wait=30``, polling again
at once; beats and polls are two asyncio processes, each agent with its own connections (its
beats through an httpx client as the agent's, its polls through a minimal HTTP/1.1 client). The
experiment controller runs in the API process (the default), or with
``--controller-apart`` as ``phoenix controller run`` beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.synchronize
import random
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import phoenix_core  # noqa: E402
from phoenix_agent.settings import AgentSettings  # noqa: E402
from support.postgres import ThrowawayPostgres  # noqa: E402
from support.processes import (  # noqa: E402
    api_server,
    controller_process,
    exit_on_sigterm,
    run_cli,
)
from support.specs import spec_data  # noqa: E402

BEAT = {"agent_version": phoenix_core.__version__, "status": "healthy"}
HEARTBEAT_SECONDS: float = AgentSettings.model_fields["heartbeat_seconds"].default

WRK_SCRIPT = """
local tokens = {%(tokens)s}
local body = '%(body)s'
local threads = 0
setup = function(thread)
  thread:set("first", threads)
  threads = threads + 1
end
local i = 0
request = function()
  -- each of wrk's threads walks its own half of the tokens: like real agents, no two
  -- requests of one host in flight at once
  i = i + 1
  local half = math.floor(#tokens / 2)
  local n = (first or 0) * half + (i %% math.max(half, 1)) + 1
  local headers = {["Authorization"] = "Bearer " .. tokens[math.min(n, #tokens)]}
  if body ~= "" then headers["Content-Type"] = "application/json" end
  return wrk.format("%(method)s", "%(path)s", headers, body ~= "" and body or nil)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d %%d\\n", latency:percentile(50),
    latency:percentile(99), summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def wrk(
    url: str,
    method: str,
    path: str,
    *,
    tokens: list[str],
    body: str,
    seconds: int,
    connections: int = 16,
) -> Run:
    """p50 / p99 in ms at ``connections`` connections (2 threads), and requests per second."""
    script = WRK_SCRIPT % {
        "tokens": ", ".join(f'"{t}"' for t in tokens),
        "body": body,
        "method": method,
        "path": path,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", file.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    assert match, out
    p50, p99, count, bad_status, socket_errors = map(int, match.groups())
    if bad_status or socket_errors:
        raise RuntimeError(f"{method} {path}: {bad_status} non-2xx, {socket_errors} socket errors")
    return Run(p50 / 1000, p99 / 1000, count / seconds)


class Run(NamedTuple):
    """One wrk run: latency percentiles (ms) and throughput."""

    p50: float
    p99: float
    per_second: float

    def __str__(self) -> str:
        return f"{self.p50:.2f} / {self.p99:.2f} ({self.per_second:,.0f}/s)"


def summary(runs: list[Run]) -> str:
    """The median run's figures (each the median over the runs), then every run."""
    p50, p99, rate = (statistics.median(values) for values in zip(*runs, strict=True))
    median = f"{p50:.2f} / {p99:.2f}  ({rate:,.0f} req/s)"
    return median if len(runs) == 1 else f"{median}  [runs: {'; '.join(map(str, runs))}]"


# --- the simulated agents (a process of their own) -------------------------------------------


@asynccontextmanager
async def agent_clients(url: str, count: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    """A client per simulated agent, each with its own connection as a real agent has. (One
    client for all of them scanned its pool of 1,000 connections on every request: up to a
    core of this 2-core machine while the polls came back, taken from the API and PostgreSQL.)
    One TLS context for all: plain HTTP never uses it, and each client would load its own."""
    tls = ssl.create_default_context()
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=60, verify=tls))
            for _ in range(count)
        ]


def heartbeats(url: str, tokens: list[str], stop: multiprocessing.synchronize.Event) -> None:
    """Each agent's heartbeat every ``HEARTBEAT_SECONDS``, as the real one sends it (its first
    at a random point of the first interval). A process of its own: an agent's beats do not
    hold up its polls, and here they would share one event loop."""

    async def run() -> None:
        async with agent_clients(url, len(tokens)) as clients:

            async def beat(token: str, client: httpx.AsyncClient) -> None:
                headers = {"Authorization": f"Bearer {token}"}
                await asyncio.sleep(random.uniform(0, HEARTBEAT_SECONDS))
                while True:
                    try:
                        answer = await client.post(
                            "/agent/v1/heartbeat", json=BEAT, headers=headers
                        )
                        answer.raise_for_status()
                    except httpx.HTTPError as exc:
                        print(f"simulated agent: heartbeat failed: {exc!r}", file=sys.stderr)
                    await asyncio.sleep(HEARTBEAT_SECONDS)

            agents = zip(tokens, clients, strict=True)
            workers = [asyncio.create_task(beat(*agent)) for agent in agents]
            await asyncio.to_thread(stop.wait)
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    asyncio.run(run())


async def long_poll(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> Any:
    """One ``GET`` on a kept-alive connection, its JSON answer (a 200, or ``OSError``)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    body = await reader.readexactly(int(length.group(1)) if length else 0)
    if status != b"200":
        raise OSError(f"HTTP {status.decode()}: {body[:200]!r}")
    return json.loads(body)


def polls(
    url: str,
    tokens: list[str],
    stop: multiprocessing.synchronize.Event,
    deliveries: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    """Each agent holding ``GET /agent/v1/tasks?wait=30`` on a connection of its own, polling
    again at once. HTTP/1.1 by hand on asyncio streams, not httpx as the agent: the 1,000
    agents share this 2-core machine with the API and PostgreSQL (real ones have hosts of
    their own), and httpx's work for the fleet's re-polls took 50-77 % of a core."""
    host, port = url.removeprefix("http://").rsplit(":", 1)

    async def run() -> None:
        seen: set[int] = set()

        async def poll(token: str) -> None:
            request = (
                f"GET /agent/v1/tasks?wait=30 HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {token}\r\n\r\n"
            ).encode()
            connection = None
            while True:
                try:
                    connection = connection or await asyncio.open_connection(host, int(port))
                    answer = await long_poll(*connection, request)
                except (OSError, asyncio.IncompleteReadError) as exc:  # said, and again
                    print(f"simulated agent: poll failed: {exc!r}", file=sys.stderr)
                    if connection:
                        connection[1].close()
                    connection = None
                    await asyncio.sleep(1)
                    continue
                now = time.time()
                for task in answer["tasks"]:
                    if task["id"] not in seen:  # a re-delivery after a lease is not a sample
                        seen.add(task["id"])
                        deliveries.put(now - float(task["payload"]["note"]))

        workers = [asyncio.create_task(poll(token)) for token in tokens]
        await asyncio.to_thread(stop.wait)  # (the API's gauge says when all are waiting)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    asyncio.run(run())


# --- set-up ------------------------------------------------------------------------------------


def register(url: str, enrolment: str, count: int) -> list[tuple[str, str, str]]:
    """(hostname, host id, host token) for ``count`` hosts, 16 registrations at a time."""

    async def run() -> list[tuple[str, str, str]]:
        gate = asyncio.Semaphore(16)
        headers = {"Authorization": f"Bearer {enrolment}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:

            async def one(index: int) -> tuple[str, str, str]:
                name = f"agent-{index:04d}"
                async with gate:
                    body = {"hostname": name, "agent_version": phoenix_core.__version__}
                    answer = (await client.post("/agent/v1/register", json=body)).json()
                    beat = {"Authorization": f"Bearer {answer['token']}"}
                    await client.post("/agent/v1/heartbeat", json=BEAT, headers=beat)
                return name, answer["host_id"], answer["token"]

            return await asyncio.gather(*(one(i) for i in range(count)))

    return asyncio.run(run())


def waiting_polls(url: str) -> int:
    text = httpx.get(f"{url}/metrics").text
    match = re.search(r"^phoenix_long_polls_waiting (\S+)$", text, re.MULTILINE)
    return int(float(match.group(1))) if match else 0


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def rss_mb(process: psutil.Process) -> float:
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


class World:
    """The API process on its database, 1,000 registered hosts, 20 experiments."""

    def __init__(self, stack: ExitStack, agents: int, *, controller_apart: bool = False) -> None:
        server = ThrowawayPostgres()
        server.start()
        stack.callback(server.stop)
        with psycopg.connect(server.url().replace("+psycopg", ""), autocommit=True) as c:
            c.execute("CREATE DATABASE bench_api")
        self.database_url = server.url("bench_api")
        env = {"PHOENIX_DATABASE_URL": self.database_url, "PHOENIX_LOG_LEVEL": "warning"}
        assert run_cli("phoenix", ["db", "upgrade"], env).returncode == 0
        token = run_cli("phoenix", ["token", "create", "bench", "--role", "operator"], env)
        enrol = run_cli("phoenix", ["enrolment-token", "create", "bench"], env)
        self.operator = token.stdout.strip()
        if controller_apart:  # the API without it, and ``phoenix controller run`` beside
            stack.enter_context(controller_process(env))
            env = {**env, "PHOENIX_RUN_CONTROLLER": "false"}
        self.url, process = stack.enter_context(api_server(env))
        self.api = psutil.Process(process.pid)
        self.hosts = register(self.url, enrol.stdout.strip(), agents)
        headers = {"Authorization": f"Bearer {self.operator}"}
        with httpx.Client(base_url=self.url, headers=headers) as http:
            for index in range(20):
                spec = spec_data(
                    name=f"bench {index}",
                    hosts=[self.hosts[index][0]],
                    host_selector=None,
                    variants=[
                        {"name": "baseline", "role": "baseline", "template": "baseline"},
                        {"name": "slim", "role": "candidate", "template": "drop-labels",
                         "variables": {"labels": ["pid"]}},
                    ],
                )  # fmt: skip
                http.post("/api/v1/experiments", json=spec).raise_for_status()

    def endpoints(self, label: str, seconds: int, rounds: int) -> list[tuple[str, str]]:
        """Each endpoint ``rounds`` times, taking turns (a slow spell of the machine falls on
        all of them, not on one); each figure the median over the rounds."""
        beat_tokens = [token for _, _, token in self.hosts]
        endpoints = [
            (f"GET /healthz p50 / p99 ms, 16 conn, {label} (no auth, no database: the floor)",
             "GET", "/healthz", [""], ""),
            (f"GET /api/v1/experiments p50 / p99 ms, 16 conn, {label}",
             "GET", "/api/v1/experiments?limit=20", [self.operator], ""),
            (f"POST /agent/v1/heartbeat p50 / p99 ms, 16 conn, {label}",
             "POST", "/agent/v1/heartbeat", beat_tokens, json.dumps(BEAT)),
        ]  # fmt: skip
        runs: dict[str, list[Run]] = {row: [] for row, *_ in endpoints}
        for _ in range(rounds):
            for row, method, path, tokens, body in endpoints:
                runs[row].append(wrk(self.url, method, path, tokens=tokens, body=body,
                                     seconds=seconds))  # fmt: skip
        return [(row, summary(found)) for row, found in runs.items()]

    def delivery(self, deliveries: multiprocessing.Queue, samples: int) -> list[float]:  # type: ignore[type-arg]
        """Enqueue -> the agent has it (ms), one task at a time to a random waiting agent,
        enqueued as the controller does."""
        from phoenix_core.queue import NewTask, open_queue
        from phoenix_core.store.database import make_engine
        from phoenix_core.wire import TaskAction, TaskType

        engine = make_engine(self.database_url)
        queue = open_queue(engine)
        latencies = []
        try:
            for _ in range(samples):
                while waiting_polls(self.url) < len(self.hosts):  # everyone waits again
                    time.sleep(0.01)
                host = uuid.UUID(random.choice(self.hosts)[1])
                note = repr(time.time())
                queue.enqueue([NewTask(host, TaskType.NOOP, TaskAction.RUN, {"note": note})])
                latencies.append(deliveries.get(timeout=30) * 1000)
        finally:
            queue.close()
            engine.dispose()
        return latencies


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="wrk runs per endpoint and phase (median shown)"
    )
    parser.add_argument(
        "--controller-apart",
        action="store_true",
        help="run the controller as its own process (phoenix controller run) instead of in "
        "the API's (PHOENIX_RUN_CONTROLLER=false)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    rows: list[tuple[str, str]] = []
    with ExitStack() as stack:
        world = World(stack, args.agents, controller_apart=args.controller_apart)
        context = multiprocessing.get_context("spawn")
        stop = context.Event()
        deliveries = context.Queue()
        tokens = [token for _, _, token in world.hosts]
        fleet = [context.Process(target=heartbeats, args=(world.url, tokens, stop))]
        fleet[0].start()
        stack.callback(lambda: [process.kill() for process in fleet])
        stack.callback(stop.set)
        time.sleep(HEARTBEAT_SECONDS + 2)  # every agent has beaten since it was registered
        beating = f"{args.agents:,} agents beating"
        rows.append(("API RSS, no long-polls (MB)", f"{rss_mb(world.api):.0f}"))
        rows += world.endpoints(f"{beating}, no long-polls", args.seconds, args.rounds)
        fleet.append(context.Process(target=polls, args=(world.url, tokens, stop, deliveries)))
        fleet[1].start()
        deadline = time.monotonic() + 120
        while waiting_polls(world.url) < args.agents:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {waiting_polls(world.url)} long-polls held")
            time.sleep(0.5)
        rows.append(("long-polls held", f"{waiting_polls(world.url):,}"))
        rows.append((f"API RSS, {args.agents:,} long-polls held (MB)", f"{rss_mb(world.api):.0f}"))
        rows += world.endpoints(
            f"{beating}, {args.agents:,} long-polls held", args.seconds, args.rounds
        )
        latencies = world.delivery(deliveries, 200)
        rows.append(
            (
                f"enqueue -> agent has the task p50 / p99 ms ({len(latencies)} tasks)",
                f"{percentile(latencies, 50):.2f} / {percentile(latencies, 99):.2f}",
            )
        )
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()
