"""Benchmark: the API's CPU per request, in-process (no HTTP server, no other load).

    .venv/bin/python bench/api_cpu.py [--requests 2000]

The real app (``create_app``, its middlewares, authentication and hot paths) on a throwaway
PostgreSQL with 10 registered hosts and 20 experiments, called through httpx's ASGI transport
one request at a time. Prints, per endpoint (a long-poll as ``wait=0``: its claim and its
cancellations, not its wait), the process CPU time per request (the app and the in-process
client together) and the wall time; ``GET /healthz`` (no authentication, no
database) shows what the client and the ASGI plumbing alone cost, to subtract.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import phoenix_core  # noqa: E402
from phoenix_api.app import create_app  # noqa: E402
from phoenix_api.settings import ApiSettings  # noqa: E402
from phoenix_core.auth import Role, TokenKind  # noqa: E402
from phoenix_core.store.database import make_engine  # noqa: E402
from phoenix_core.store.migrate import upgrade  # noqa: E402
from phoenix_core.store.session import Store  # noqa: E402
from phoenix_core.store.tokens import TokenRepository  # noqa: E402
from support.postgres import ThrowawayPostgres  # noqa: E402
from support.processes import exit_on_sigterm  # noqa: E402
from support.specs import spec_data  # noqa: E402

SLIM = {"labels": ["pid"]}
VARIANTS = [
    {"name": "baseline", "role": "baseline", "template": "baseline"},
    {"name": "slim", "role": "candidate", "template": "drop-labels", "variables": SLIM},
]
BEAT = {"agent_version": phoenix_core.__version__, "status": "healthy"}


def tokens(url: str) -> tuple[str, str]:
    """(operator token, enrolment token) on a migrated database."""
    engine = make_engine(url)
    upgrade(engine)
    store = Store(engine)
    with store.session() as session:
        _, operator = TokenRepository(session).create(
            TokenKind.USER, "bench", actor="bench", role=Role.OPERATOR
        )
        _, enrolment = TokenRepository(session).create(TokenKind.ENROLMENT, "b", actor="bench")
    store.dispose()
    return operator, enrolment


async def measure(url: str, requests: int) -> list[tuple[str, float, float]]:
    operator, enrolment = tokens(url)
    app = create_app(ApiSettings(database_url=url, run_controller=False))
    results = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://phoenix") as client:
            hosts = []
            for index in range(10):
                answer = await client.post(
                    "/agent/v1/register",
                    json={"hostname": f"host-{index}", "agent_version": phoenix_core.__version__},
                    headers={"Authorization": f"Bearer {enrolment}"},
                )
                hosts.append({"Authorization": f"Bearer {answer.json()['token']}"})
            user = {"Authorization": f"Bearer {operator}"}
            for index in range(20):
                spec = spec_data(
                    name=f"bench {index}", hosts=["host-0"], host_selector=None, variants=VARIANTS
                )
                (
                    await client.post("/api/v1/experiments", json=spec, headers=user)
                ).raise_for_status()
            calls: dict[str, Callable[[int], Awaitable[httpx.Response]]] = {
                "GET /healthz": lambda i: client.get("/healthz"),
                "POST /agent/v1/heartbeat": lambda i: client.post(
                    "/agent/v1/heartbeat", json=BEAT, headers=hosts[i % 10]
                ),
                "GET /api/v1/experiments?limit=20": lambda i: client.get(
                    "/api/v1/experiments?limit=20", headers=user
                ),
                "GET /agent/v1/tasks?wait=0": lambda i: client.get(  # a poll, without its wait
                    "/agent/v1/tasks?wait=0", headers=hosts[i % 10]
                ),
            }
            for name, call in calls.items():
                for index in range(200):  # warm up (prepared statements, caches)
                    (await call(index)).raise_for_status()
                cpu, wall = time.process_time(), time.perf_counter()
                for index in range(requests):
                    (await call(index)).raise_for_status()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                results.append((name, cpu / requests * 1000, wall / requests * 1000))
    return results


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    server = ThrowawayPostgres()
    server.start()
    try:
        with psycopg.connect(server.url().replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench_api_cpu")
        results = asyncio.run(measure(server.url("bench_api_cpu"), args.requests))
    finally:
        server.stop()
    print(f"{'endpoint':<34} {'CPU ms/request':>15} {'wall ms/request':>16}")
    for name, cpu, wall in results:
        print(f"{name:<34} {cpu:>15.3f} {wall:>16.3f}")


if __name__ == "__main__":
    main()
