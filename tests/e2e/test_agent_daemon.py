"""``phoenix-agent run`` as a real process against a real API on PostgreSQL: it enrols once,
runs the tasks it is given, keeps a status file, rides out an API outage, drains on SIGTERM,
and stops with one clear line when its host is decommissioned."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from phoenix_core.queue import NewTask, TaskQueue, open_queue
from phoenix_core.store.database import make_engine
from phoenix_core.wire import TaskAction, TaskStatus, TaskType
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
        self.enrolment = self.cli("enrolment-token", "create", "rack")
        self.admin = self.cli("token", "create", "ada", "--role", "admin")
        self.engine = make_engine(postgres_url)
        self.queue: TaskQueue = open_queue(self.engine)

    def cli(self, *args: str) -> str:
        result = run_cli("phoenix", list(args), self.env)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    @contextmanager
    def agent(self, *, enrol: bool = True) -> Iterator[subprocess.Popen[str]]:
        env = {
            "PHOENIX_AGENT_API_URL": self.url,
            "PHOENIX_AGENT_STATE_DIR": str(self.state),
            "PHOENIX_AGENT_HOSTNAME": "web-1",
            "PHOENIX_AGENT_HEARTBEAT_SECONDS": "0.5",
            "PHOENIX_AGENT_POLL_WAIT_SECONDS": "2",
            "PHOENIX_AGENT_MAX_BACKOFF_SECONDS": "1",
            "PHOENIX_AGENT_METRICS_SECONDS": "0.5",
            "PHOENIX_AGENT_PUSHGATEWAY_URL": self.gateway,
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
    with api_server(world.env, port=world.port), world.agent() as agent:
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
