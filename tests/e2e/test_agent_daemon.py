"""``phoenix-agent run`` as a real process against a real API on PostgreSQL: it enrols once,
runs the tasks it is given, keeps a status file, rides out an API outage, drains on SIGTERM,
and stops with one clear line when its host is decommissioned. The API, told to stop, ends
what it holds at once, and the agent goes on with the next API process. At INFO both log what
they do, not each request their HTTP libraries make (at DEBUG those too)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from phoenix_core.queue import NewTask, TaskQueue, open_queue
from phoenix_core.store.database import make_engine
from phoenix_core.wire import TaskAction, TaskStatus, TaskType
from support.control_plane import online_host
from support.postgres import free_port
from support.processes import agent_process, api_server, run_cli
from support.prometheus import pushgateway
from support.waiting import until


class World:
    def __init__(self, postgres_url: str, tmp_path: Path, gateway: str) -> None:
        self.gateway = gateway
        self.env = {"PHOENIX_DATABASE_URL": postgres_url, "PHOENIX_LOG_LEVEL": "warning"}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = tmp_path / "agent-state"
        self.log = tmp_path / "agent.log"
        self.api_log = tmp_path / "api.log"
        self.enrolment = self.cli("enrolment-token", "create", "rack")
        self.admin = self.cli("token", "create", "ada", "--role", "admin")
        self.engine = make_engine(postgres_url)
        self.queue: TaskQueue = open_queue(self.engine)

    def cli(self, *args: str) -> str:
        result = run_cli("phoenix", list(args), self.env)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    @contextmanager
    def agent(self, *, enrol: bool = True, **settings: str) -> Iterator[subprocess.Popen[str]]:
        env = {
            "PHOENIX_AGENT_API_URL": self.url,
            "PHOENIX_AGENT_STATE_DIR": str(self.state),
            "PHOENIX_AGENT_HOSTNAME": "web-1",
            "PHOENIX_AGENT_HEARTBEAT_SECONDS": "0.5",
            "PHOENIX_AGENT_POLL_WAIT_SECONDS": "2",
            "PHOENIX_AGENT_MAX_BACKOFF_SECONDS": "1",
            "PHOENIX_AGENT_METRICS_SECONDS": "0.5",
            "PHOENIX_AGENT_PUSHGATEWAY_URL": self.gateway,
            **settings,
        }
        if enrol:
            env["PHOENIX_AGENT_ENROLMENT_TOKEN"] = self.enrolment
        with agent_process(env, self.log) as process:
            yield process

    def host_id(self) -> uuid.UUID:
        until((self.state / "identity.json").exists, "the agent enrolled")
        return uuid.UUID(json.loads((self.state / "identity.json").read_text())["host_id"])

    def status(self) -> str:
        path = self.state / "status"
        return path.read_text() if path.exists() else ""

    def noops(self, host: uuid.UUID, count: int) -> list[int]:
        task = NewTask(host, TaskType.NOOP, TaskAction.RUN, {"note": "hello"})
        return self.queue.enqueue([task] * count)

    def all_succeeded(self, ids: list[int]) -> bool:
        return all(self.queue.get(i).status is TaskStatus.SUCCEEDED for i in ids)

    def close(self) -> None:
        self.queue.close()
        self.engine.dispose()


@pytest.fixture
def world(postgres_url: str, tmp_path: Path) -> Iterator[World]:
    with pushgateway() as gateway:
        world = World(postgres_url, tmp_path, gateway)
        yield world
        world.close()


def test_enrols_once_runs_tasks_and_drains(world: World) -> None:
    """...and says so at INFO, as does the API (both at their default level here)."""
    api_env = {**world.env, "PHOENIX_LOG_LEVEL": "info"}
    with api_server(api_env, port=world.port, log=world.api_log), world.agent() as agent:
        host = world.host_id()
        assert (world.state / "identity.json").stat().st_mode & 0o777 == 0o600
        ids = world.noops(host, 20)
        until(lambda: world.all_succeeded(ids), "the agent ran the tasks")
        assert world.queue.get(ids[0]).result == {"note": "hello"}
        until(lambda: "heartbeat ok" in world.status(), "a heartbeat went through")
        assert "poll " in world.status()
        # its own measurements: in the metrics cache, and on the Pushgateway
        until(lambda: "pushgateway ok" in world.status(), "a push went through")
        pushed = httpx.get(f"{world.gateway}/metrics").text
        assert re.search(
            r'phoenix_agent_rss_bytes\{[^}]*phoenix_host="web-1"[^}]*\} [0-9.e+]+', pushed
        )
        with world.engine.connect() as connection:
            cached = connection.execute(
                text(
                    "SELECT metric_name, value FROM metrics_cache WHERE host_id = :host"
                    " AND metric_name = 'phoenix_agent_rss_bytes'"
                ),
                {"host": host},
            ).all()
        assert cached and all(value > 1_000_000 for _, value in cached)  # bytes: > 1 MB
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0
        assert "agent stopped" in world.status()
        # a restart keeps its identity: no second enrolment, no second host
        with world.agent(enrol=False) as again:
            assert world.host_id() == host
            ids = world.noops(host, 3)
            until(lambda: world.all_succeeded(ids), "the restarted agent ran the tasks")
            again.send_signal(signal.SIGTERM)
            assert again.wait(timeout=30) == 0
        hosts = httpx.get(
            f"{world.url}/api/v1/hosts", headers={"Authorization": f"Bearer {world.admin}"}
        ).json()
        assert [h["hostname"] for h in hosts] == ["web-1"]
    agent_log, api_log = world.log.read_text(), world.api_log.read_text()
    for log in (agent_log, api_log):
        assert not (found := _LIBRARY_LINES.findall(log)), found[:5]  # DEBUG only
        assert "Traceback" not in log
    said = f"task {ids[0]} noop/run attempt 1: "
    for line in (f"serving host web-1 ({host})", said + "claimed", said + "succeeded in ",
                 "draining: no new tasks", "stopped (exit status 0)"):  # fmt: skip
        assert line in agent_log, (line, agent_log)
    for line in ("phoenix_api.app: started", f"host_registered: host {host} (hostname=web-1)",
                 "shutting down:", "phoenix_api.app: stopped"):  # fmt: skip
        assert line in api_log, (line, api_log)


_LIBRARY_LINES = re.compile(
    r".* (?:DEBUG|INFO) (?:httpx|httpcore|urllib3|uvicorn|websockets|alembic)[.\w]*: .*"
    r"|.*HTTP Request: .*"
)
"""What libraries say about their routine work (a request, a connection, a start-up step)."""


def test_rides_out_an_api_outage(world: World) -> None:
    with world.agent() as agent:
        with api_server(world.env, port=world.port):
            host = world.host_id()
        # the API is gone: the agent keeps trying, backing off
        until(lambda: "poll retrying" in world.status(), "the agent noticed the outage")
        time.sleep(2)
        assert agent.poll() is None
        with api_server(world.env, port=world.port):
            ids = world.noops(host, 5)
            until(lambda: world.all_succeeded(ids), "the agent resumed")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0


def test_a_decommissioned_host_stops_its_agent(world: World) -> None:
    with api_server(world.env, port=world.port), world.agent() as agent:
        host = world.host_id()
        until(lambda: "heartbeat ok" in world.status(), "a heartbeat went through")
        answer = httpx.post(
            f"{world.url}/api/v1/hosts/{host}/decommission",
            headers={"Authorization": f"Bearer {world.admin}"},
        )
        assert answer.status_code == 200, answer.text
        assert agent.wait(timeout=30) == 2
    refusals = [line for line in world.log.read_text().splitlines() if "refused this agent" in line]
    assert refusals and "(401): The token 'web-1' was revoked." in refusals[0]
    assert "Traceback" not in world.log.read_text()


def test_without_an_identity_or_an_enrolment_token_it_says_what_to_do(world: World) -> None:
    with world.agent(enrol=False) as agent:
        assert agent.wait(timeout=30) == 1
    output = world.log.read_text()
    assert "has not enrolled yet" in output and "PHOENIX_AGENT_ENROLMENT_TOKEN" in output
    assert "Traceback" not in output


def _held_polls(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    match = re.search(r"^phoenix_long_polls_waiting (\S+)$", text, re.MULTILINE)
    assert match, text
    return float(match.group(1))


def test_a_stopping_api_ends_what_it_holds_and_the_agent_goes_on_with_the_next(
    world: World,
) -> None:
    """SIGTERM while the API holds a long-poll and a live session: the poll is answered at once,
    empty (``Connection: close``), the session closed with 1001 (going away), and the process
    exits (before, it waited out every held poll: 24 to 30 s). A task the agent claimed just
    before is still its own: it runs it and reports it to the next API process, once. Both run
    at DEBUG here: the request lines INFO leaves out (test above) are in their logs."""
    api_env = {**world.env, "PHOENIX_LOG_LEVEL": "debug"}
    agent_settings = {"PHOENIX_AGENT_LOG_LEVEL": "debug", "PHOENIX_AGENT_POLL_WAIT_SECONDS": "30"}
    with world.agent(**agent_settings) as agent, ThreadPoolExecutor(1) as hand:
        with api_server(api_env, port=world.port, log=world.api_log) as (url, api):
            host = world.host_id()
            until(lambda: _held_polls(url) == 1, "the agent's long-poll is held")
            agent.send_signal(signal.SIGSTOP)  # its poll claims the task; it runs it later
            try:
                [task] = world.noops(host, 1)
                until(lambda: world.queue.get(task).status is TaskStatus.CLAIMED, "a claim")
                token = online_host(url, world.enrolment, "web-2")
                poll = hand.submit(httpx.get, f"{url}/agent/v1/tasks?wait=30", timeout=60,
                                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
                auth = {"Authorization": f"Bearer {world.admin}"}
                with connect(url.replace("http", "ws", 1) + "/api/v1/ws",
                             additional_headers=auth) as live:  # fmt: skip
                    live.send(json.dumps({"type": "subscribe", "topic": "fleet"}))
                    assert json.loads(live.recv(timeout=10))["type"] == "subscribed"
                    until(lambda: _held_polls(url) == 1, "the poll by hand is held")
                    api.send_signal(signal.SIGTERM)
                    # a guard against a hang, not a timing (those belong in benchmarks)
                    api.wait(timeout=5)
                    with pytest.raises(ConnectionClosed) as closed:
                        while True:
                            live.recv(timeout=5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
                answer = poll.result(timeout=5)
                assert answer.status_code == 200
                assert answer.json() == {"tasks": [], "cancellations": []}
                assert answer.headers["connection"] == "close"
                assert world.queue.get(task).status is TaskStatus.CLAIMED  # still the agent's
            finally:
                agent.send_signal(signal.SIGCONT)
        with api_server(api_env, port=world.port, log=world.api_log):
            until(lambda: world.all_succeeded([task]), "the agent reported to the next API")
        assert world.queue.get(task).attempt == 1  # claimed once: never lost, never again
    agent_log = world.log.read_text()
    assert f'GET {world.url}/agent/v1/tasks?wait=30.0&limit=10 "HTTP/1.1 200 OK"' in agent_log
    assert "INFO uvicorn.error: Started server process" in world.api_log.read_text()
