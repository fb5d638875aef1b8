"""The agent's load runner with real processes (no API): the exporter serves exactly the
series it promises and bursts when asked; process churn starts processes; custom scripts run
only from the allow-list; stop leaves nothing of any of them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from phoenix_agent.failures import TaskFailed
from phoenix_agent.held import TaskControl
from phoenix_agent.loads import LoadRunner
from support.postgres import free_port
from support.waiting import until

EXPERIMENT = uuid.UUID(int=9)


def _start(profile: str, parameters: dict[str, Any], port: int | None = None) -> dict[str, Any]:
    return {
        "experiment_id": str(EXPERIMENT),
        "profile": profile,
        "parameters": parameters,
        "duration_seconds": 120,
        "port": port,
    }


STOP = {"experiment_id": str(EXPERIMENT)}


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[LoadRunner]:
    script = tmp_path / "load.sh"
    script.write_text(f"#!/bin/sh\ntouch {tmp_path / 'ran'}\nexec sleep 600\n")
    script.chmod(0o755)
    runner = LoadRunner(tmp_path / "state", custom_scripts=[script])
    yield runner
    runner.stop_all()


def _series(port: int) -> int:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def _group(pid: int) -> list[psutil.Process]:
    return [p for p in psutil.process_iter() if _pgid(p) == pid]


def _pgid(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except (ProcessLookupError, psutil.Error):
        return None


def test_high_cardinality_serves_exactly_its_series(runner: LoadRunner) -> None:
    port = free_port()
    result = runner.start(
        _start("high-cardinality", {"series": 7, "metrics": 3}, port), TaskControl()
    )
    assert result["series"] == 21
    assert _series(port) == 21
    assert runner.stop(STOP, TaskControl()) == {"stopped": True}
    assert _group(result["pid"]) == []


def test_spike_bursts_then_falls_back(runner: LoadRunner) -> None:
    port = free_port()
    parameters = {
        "series": 3,
        "metrics": 1,
        "burst_series": 30,
        "every_seconds": 2,
        "burst_seconds": 1,
    }
    runner.start(_start("spike", parameters, port), TaskControl())
    until(lambda: _series(port) == 30, "a burst")
    until(lambda: _series(port) == 3, "back to normal")


def test_process_churn_starts_processes_and_stop_ends_them(runner: LoadRunner) -> None:
    parameters = {"rate": 20, "lifetime_seconds": 5}
    result = runner.start(_start("process-churn", parameters), TaskControl())
    until(lambda: len(_group(result["pid"])) >= 5, "churned processes")
    runner.stop(STOP, TaskControl())
    assert _group(result["pid"]) == []


def test_custom_runs_only_allowed_scripts(runner: LoadRunner, tmp_path: Path) -> None:
    refused = _start("custom", {"script": "/bin/sh"})
    with pytest.raises(TaskFailed, match="not on this agent's allow-list"):
        runner.start(refused, TaskControl())
    result = runner.start(_start("custom", {"script": str(tmp_path / "load.sh")}), TaskControl())
    until((tmp_path / "ran").exists, "the script ran")
    runner.stop(STOP, TaskControl())
    assert _group(result["pid"]) == []


def test_realistic_needs_nothing_but_stress_ng(runner: LoadRunner) -> None:
    parameters = {"cpu_workers": 1, "cpu_load": 5, "vm_bytes": "16M"}
    result = runner.start(_start("realistic", parameters), TaskControl())
    until(lambda: len(_group(result["pid"])) >= 2, "stress-ng workers")
    runner.stop(STOP, TaskControl())
    assert _group(result["pid"]) == []


def test_a_restarted_agent_keeps_a_live_load_and_starts_a_dead_one_again(
    runner: LoadRunner, tmp_path: Path
) -> None:
    """After an agent restart the load it left is adopted if it lives, and started again for
    the rest of its duration if it died meanwhile (a container restart takes it along)."""
    port = free_port()
    first = runner.start(_start("high-cardinality", {"series": 4}, port), TaskControl())
    assert LoadRunner(tmp_path / "state").adopt() == (1, 0)  # alive: taken over as it is
    os.killpg(first["pid"], 9)
    until(lambda: _dead(first["pid"]), "the load died")
    again = LoadRunner(tmp_path / "state")
    assert again.adopt() == (0, 1)
    (pid,) = again.pids().values()
    assert pid != first["pid"]
    until(lambda: _answers(port), "the load serves again")
    assert _series(port) == 16
    command = psutil.Process(pid).cmdline()
    left = float(command[command.index("--seconds") + 1])
    assert 100 <= left < 120  # what was left of its 120 s, not a new full run
    assert again.stop(STOP, TaskControl()) == {"stopped": True}
    assert _group(pid) == []


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
    except httpx.TransportError:
        return False


def _dead(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
