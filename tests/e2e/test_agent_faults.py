"""The agent under faults, with a real ``phoenix api serve``, ``phoenix-agent run`` and
Prometheus: a config download rides out an API restart in the middle of a deploy; a config the
API refuses fails its task at once, naming the status and the config; a start the control plane
cancels (the experiment stopped while its collectors come up) stops its collector and is
stored ``cancelled``."""

from __future__ import annotations

import os
import signal
import stat
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from phoenix_core.queue import NewTask, open_queue
from phoenix_core.wire import TaskAction, TaskStatus, TaskType
from support.postgres import free_port
from support.processes import api_server
from support.prometheus import BINARY as PROMETHEUS
from support.proxy import Proxy, tcp_proxy
from support.world import World, until

SERIES = pd.DataFrame(
    {"__name__": ["phx_demo_requests_total"] * 2, "route": ["/a", "/b"], "__value__": [1.0, 2.0]}
)
FAST_RETRIES = {"PHOENIX_AGENT_MAX_BACKOFF_SECONDS": "1"}


def _start_tasks(world: World, experiment: str) -> list[tuple[str, str | None]]:
    """(status, error message) of each collector start task of the experiment."""
    with world.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT status, error_message FROM agent_tasks WHERE experiment_id = :e"
                " AND type = 'collector' AND action = 'start' ORDER BY id"
            ),
            {"e": experiment},
        ).all()
    return [(status, error) for status, error in rows]


@pytest.fixture
def proxied(postgres_url: str, tmp_path: Path) -> Iterator[tuple[World, Proxy]]:
    """A world whose agent reaches the API through a proxy (which can drop one request)."""
    port = free_port()
    with ExitStack() as stack:
        proxy = stack.enter_context(tcp_proxy(port))
        env = {"PHOENIX_AGENT_API_URL": proxy.url} | FAST_RETRIES
        yield World(stack, postgres_url, tmp_path, SERIES, agent_env=env, api_port=port), proxy


def test_a_config_download_rides_out_an_api_restart(proxied: tuple[World, Proxy]) -> None:
    """The API goes away just as the agent asks for a config (the request is dropped, as in a
    connection reset), and comes back on the same address: the download is retried and the
    deploy carries on."""
    world, proxy = proxied

    def stop_the_api() -> None:
        os.killpg(world.api.pid, signal.SIGTERM)
        world.api.wait(timeout=60)

    proxy.arm(b"GET /agent/v1/configs/", stop_the_api)
    experiment = world.start_experiment()
    until(proxy.tripped.is_set, "the agent asked for a config and the API went away")
    with api_server(world.env, port=world.api_port):  # back, on the same address
        world.wait_started(experiment)
        assert [status for status, _ in _start_tasks(world, experiment)] == ["succeeded"] * 2
        log = world.agent_log.read_text()
        assert "config" in log and "retrying" in log, log[-3000:]
        world.stop(experiment)


@pytest.fixture
def world(postgres_url: str, tmp_path: Path) -> Iterator[World]:
    with ExitStack() as stack:
        yield World(stack, postgres_url, tmp_path, SERIES, agent_env=FAST_RETRIES)


def test_a_refused_config_fails_its_task_at_once(world: World) -> None:
    """A start whose config the API does not have for this host (404): no retries; the task
    fails naming the status and the config's SHA-256."""
    until(lambda: world.operator.get("/api/v1/hosts").json(), "the agent enrolled")
    host = uuid.UUID(world.operator.get("/api/v1/hosts").json()[0]["id"])
    sha = "0" * 64
    payload = {
        "experiment_id": str(uuid.uuid4()),
        "variant": "baseline",
        "collector": "prometheus-agent",
        "config_sha256": sha,
        "config_url": f"/agent/v1/configs/{sha}",
        "ports": {"http": free_port()},
    }
    queue = open_queue(world.engine)
    try:
        [task_id] = queue.enqueue([NewTask(host, TaskType.COLLECTOR, TaskAction.START, payload)])
        task = until(
            lambda: (t := queue.get(task_id)).status is TaskStatus.FAILED and t,
            "the start failed",
        )
    finally:
        queue.close()
    reason = task.error_message or ""
    assert "404" in reason and sha in reason, reason
    assert task.attempt == 1
    assert "retrying" not in world.agent_log.read_text()
    assert not world.collectors()


# Prometheus listening on another port than the agent's health check looks at: it runs (and
# scrapes), but never becomes healthy in the agent's eyes, so its start task stays held.
NEVER_READY = f"""#!/bin/sh
for arg do
  shift
  case $arg in --web.listen-address=*) arg=--web.listen-address=127.0.0.1:0 ;; esac
  set -- "$@" "$arg"
done
exec {PROMETHEUS} "$@"
"""


@pytest.fixture
def slow_world(postgres_url: str, tmp_path: Path) -> Iterator[World]:
    wrapper = tmp_path / "prometheus-never-ready"
    wrapper.write_text(NEVER_READY)
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    env = {
        "PHOENIX_AGENT_PROMETHEUS_AGENT_BINARY": str(wrapper),
        "PHOENIX_AGENT_APPLY_TIMEOUT_SECONDS": "600",
    }
    with ExitStack() as stack:
        yield World(stack, postgres_url, tmp_path, SERIES, agent_env=env)


def test_a_cancelled_start_stops_its_collector(slow_world: World) -> None:
    """The experiment is stopped while its collectors are still starting: the control plane
    cancels the held start tasks, the agent stops each collector (SIGTERM to its process group)
    and reports the task cancelled."""
    world = slow_world
    experiment = world.start_experiment()
    until(lambda: set(world.collectors()) == {"baseline", "twin"}, "both collectors run")
    until(
        lambda: [s for s, _ in _start_tasks(world, experiment)] == ["running"] * 2,
        "both start tasks are held, waiting for their collectors",
    )
    processes = list(world.collectors().values())
    assert world.operator.post(f"/api/v1/experiments/{experiment}/stop").status_code == 202
    until(
        lambda: [s for s, _ in _start_tasks(world, experiment)] == ["cancelled"] * 2,
        "both start tasks are cancelled",
    )
    for process in processes:
        assert not process.is_running() or process.status() == "zombie"
    assert not world.collectors()
    assert all("cancelled" in (error or "") for _, error in _start_tasks(world, experiment))
    until(lambda: world.state_of(experiment) == "stopped", "the experiment stopped")
    assert world.agent.poll() is None  # the agent serves on
