"""Benchmark: the agent's idle footprint and its no-op task throughput through the real API.

    .venv/bin/python bench/agent.py [--idle-seconds 60] [--tasks 3000]

One ``phoenix api serve`` on a throwaway PostgreSQL and one ``phoenix-agent run`` (default
settings: 30 s long-polls, 10 s heartbeats) installed as on a host: a venv of its own with the
project's base dependencies only (``pip install .``, no extras; made in a temporary folder,
~10 s), so that nothing the server or the tests need is loaded into it. Prints the agent's
RSS and its CPU share of one core over the idle window (no tasks), then how many ``noop/run``
tasks per minute go from enqueued (all at once, as the controller would) to reported
``succeeded`` through the API.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.postgres import ThrowawayPostgres  # noqa: E402
from support.processes import api_server, exit_on_sigterm, run_cli  # noqa: E402


def start(stack: ExitStack) -> tuple[str, uuid.UUID, psutil.Process]:
    """PostgreSQL, the API and an enrolled agent; (database URL, host id, agent process)."""
    server = ThrowawayPostgres()
    server.start()
    stack.callback(server.stop)
    with psycopg.connect(server.url().replace("+psycopg", ""), autocommit=True) as c:
        c.execute("CREATE DATABASE bench_agent")
    database_url = server.url("bench_agent")
    env = {"PHOENIX_DATABASE_URL": database_url, "PHOENIX_LOG_LEVEL": "warning"}
    assert run_cli("phoenix", ["db", "upgrade"], env).returncode == 0
    enrolment = run_cli("phoenix", ["enrolment-token", "create", "bench"], env).stdout.strip()
    url, _ = stack.enter_context(api_server(env))
    state = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    agent_env = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
    agent_env |= {
        "PHOENIX_AGENT_API_URL": url,
        "PHOENIX_AGENT_ENROLMENT_TOKEN": enrolment,
        "PHOENIX_AGENT_STATE_DIR": str(state),
        "PHOENIX_AGENT_LOG_LEVEL": "warning",
    }
    venv = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
        check=True,
    )
    agent = subprocess.Popen(
        [str(venv / "bin" / "phoenix-agent"), "run"], env=agent_env, start_new_session=True
    )
    stack.callback(agent.wait, 30)
    stack.callback(os.killpg, agent.pid, signal.SIGTERM)
    while not (state / "identity.json").exists():
        time.sleep(0.1)
    host = uuid.UUID(json.loads((state / "identity.json").read_text())["host_id"])
    time.sleep(3)  # started, enrolled, first heartbeat sent
    return database_url, host, psutil.Process(agent.pid)


def idle_cpu_percent(process: psutil.Process, seconds: float) -> float:
    before, began = process.cpu_times(), time.monotonic()
    time.sleep(seconds)
    after, elapsed = process.cpu_times(), time.monotonic() - began
    return ((after.user + after.system) - (before.user + before.system)) / elapsed * 100


def tasks_per_minute(database_url: str, host: uuid.UUID, count: int) -> float:
    """Enqueued at once (in batches of 500) until every one is reported succeeded."""
    from phoenix_core.queue import NewTask, open_queue
    from phoenix_core.store.database import make_engine
    from phoenix_core.wire import TaskAction, TaskStatus, TaskType

    engine = make_engine(database_url)
    queue = open_queue(engine)
    try:
        task = NewTask(host, TaskType.NOOP, TaskAction.RUN, {"note": "bench"})
        began = time.monotonic()
        for first in range(0, count, 500):
            queue.enqueue([task] * min(500, count - first))
        while queue.stats().depth[TaskStatus.SUCCEEDED] < count:
            time.sleep(0.05)
        return count / (time.monotonic() - began) * 60
    finally:
        queue.close()
        engine.dispose()


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--tasks", type=int, default=3000)
    args = parser.parse_args()
    with ExitStack() as stack:
        database_url, host, agent = start(stack)
        cpu = idle_cpu_percent(agent, args.idle_seconds)
        rows = [
            ("agent RSS, idle (MB)", f"{agent.memory_info().rss / 2**20:.1f}"),
            (f"agent CPU, idle over {args.idle_seconds:.0f} s (% of one core)", f"{cpu:.2f}"),
            (
                f"no-op tasks through the API ({args.tasks:,}), per minute",
                f"{tasks_per_minute(database_url, host, args.tasks):,.0f}",
            ),
            ("agent RSS after the tasks (MB)", f"{agent.memory_info().rss / 2**20:.1f}"),
        ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()
