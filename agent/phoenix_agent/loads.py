"""Load for experiments, the agent's side: :class:`LoadRunner`,
which starts an experiment's load as its own process group, stops it, and finds it again after
an agent restart. Load is what the collectors measure: processes with known metrics and
resource use.

``high-cardinality`` is a real exporter (prometheus_client) serving an exactly known set of
series, so tests and demos know the ground truth: ``series`` simulated processes (labels
``process`` and ``pid``) for each of ``metrics`` families (``process_cpu_seconds_total``,
``process_resident_memory_bytes``, ``process_open_fds``, ``process_io_read_bytes_total``:
the names the built-in templates work on), with fixed values (process ``i`` has CPU
``1000 / (i + 1)``). ``churn_seconds`` > 0 renames every process that often (new series).
``spike`` is the same exporter jumping to ``burst_series`` for ``burst_seconds`` of every
``every_seconds``. ``realistic`` runs stress-ng (CPU and memory workers). ``process-churn``
starts short-lived processes at ``rate`` per second. ``custom`` runs a script from the agent's
allow-list (``PHOENIX_AGENT_CUSTOM_LOAD_SCRIPTS``). Each runs as its own process group for a
bounded time and is stopped as a whole.

The profiles' parameters and the exporter's series are :mod:`phoenix_core.wire.loads` (the
spec checks them and a dry run forecasts from them). The processes themselves are the program
:mod:`phoenix_agent.loadsim` (``python -m phoenix_agent.loadsim serve|churn|custom ...``), so
the agent never loads prometheus_client.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from phoenix_agent.children import Child
from phoenix_agent.children import Identity as ProcessIdentity
from phoenix_agent.failures import TaskCancelled, TaskFailed
from phoenix_agent.held import TaskControl
from phoenix_agent.identity import write_atomically
from phoenix_core.processes import signal_group
from phoenix_core.wire.loads import (
    FAMILIES,
    SERVING_PROFILES,
    CustomParameters,
    HighCardinalityParameters,
    ProcessChurnParameters,
    RealisticParameters,
    SpikeParameters,
)
from phoenix_core.wire.tasks import LoadsimStartPayload, LoadsimStopPayload

log = logging.getLogger(__name__)

__all__ = [
    "FAMILIES",
    "HighCardinalityParameters",
    "LoadRunner",
    "ProcessChurnParameters",
    "SpikeParameters",
]


@dataclass(frozen=True)
class _Load:
    child: Child
    start: LoadsimStartPayload
    ends_at: float
    """Wall-clock end of its bounded duration (what is left of it survives a restart)."""


class LoadRunner:
    """The agent's side: start and stop an experiment's load (one per experiment), and find
    it again after an agent restart (``state_dir/loads.json``)."""

    def __init__(self, state_dir: Path, custom_scripts: list[Path] | None = None) -> None:
        self.state_dir = state_dir
        self.custom_scripts = [p.resolve() for p in custom_scripts or []]
        self._running: dict[uuid.UUID, _Load] = {}
        self._lock = threading.RLock()

    @property
    def state_file(self) -> Path:
        return self.state_dir / "loads.json"

    def adopt(self) -> tuple[int, int]:
        """Take over the loads a previous run of the agent left (``loads.json``): a live one is
        kept; a dead one (the host rebooted, the container restarted) is started again for
        what is left of its duration, once what is left of its process group is killed; one
        whose time is up is dropped. (adopted, restarted)."""
        try:
            entries = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return 0, 0
        adopted = restarted = 0
        for entry in entries:
            identity = ProcessIdentity.from_json(entry["process"])
            start = LoadsimStartPayload.model_validate(entry["payload"])
            child = Child.adopt(identity)
            if child is None:
                signal_group(identity.pid, signal.SIGKILL)
                left = float(entry["ends_at"]) - time.time()
                if left < 1:
                    continue
                try:
                    child = self._spawn(start.model_copy(update={"duration_seconds": left}))[0]
                except TaskFailed as exc:
                    log.warning("%s: its load is gone and cannot start again: %s",
                                start.experiment_id, exc)  # fmt: skip
                    continue
                restarted += 1
            else:
                adopted += 1
            with self._lock:
                self._running[start.experiment_id] = _Load(child, start, float(entry["ends_at"]))
        self._save()
        return adopted, restarted

    def start(self, payload: dict[str, Any], control: TaskControl) -> dict[str, Any]:
        start = LoadsimStartPayload.model_validate(payload)
        with self._lock:
            current = self._running.get(start.experiment_id)
        if current is not None and current.child.alive():
            return {"pid": current.child.pid, "already_running": True}
        child, result = self._spawn(start)
        try:
            if start.profile in SERVING_PROFILES:
                _wait_serving(child, start.port, self._folder(start) / "load.log", control)
        except (TaskFailed, TaskCancelled):
            child.terminate(5)
            raise
        with self._lock:
            self._running[start.experiment_id] = _Load(
                child, start, time.time() + start.duration_seconds
            )
            self._save()
        log.info("%s: started the %s load (pid %s) for %.0f s", start.experiment_id,
                 start.profile, child.pid, start.duration_seconds)  # fmt: skip
        return {"pid": child.pid, **result}

    def _folder(self, start: LoadsimStartPayload) -> Path:
        return self.state_dir / "load" / str(start.experiment_id)

    def _spawn(self, start: LoadsimStartPayload) -> tuple[Child, dict[str, Any]]:
        folder = self._folder(start)
        folder.mkdir(parents=True, exist_ok=True)
        command, result = self._command(start)
        with (folder / "load.log").open("ab") as log_file:
            child = Child.spawn(
                command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=folder,
            )  # fmt: skip
        return child, result

    def stop(self, payload: dict[str, Any], control: TaskControl) -> dict[str, Any]:
        stop = LoadsimStopPayload.model_validate(payload)
        with self._lock:
            load = self._running.pop(stop.experiment_id, None)
            self._save()
        if load is None:
            return {"stopped": False}
        load.child.terminate(5)
        log.info("%s: stopped the %s load (pid %s)", stop.experiment_id, load.start.profile,
                 load.child.pid)  # fmt: skip
        return {"stopped": True}

    def pids(self) -> dict[uuid.UUID, int]:
        """Each experiment's running load process."""
        with self._lock:
            running = self._running.items()
            return {key: load.child.pid for key, load in running if load.child.alive()}

    def stop_all(self) -> None:
        with self._lock:
            running = list(self._running.values())
            self._running.clear()
            self._save()
        for load in running:
            load.child.terminate(5)

    def _save(self) -> None:
        with self._lock:
            entries = [
                {
                    "payload": load.start.model_dump(mode="json"),
                    "ends_at": load.ends_at,
                    "process": load.child.identity.to_json(),
                }
                for load in self._running.values()
            ]
            write_atomically(self.state_file, json.dumps(entries, indent=2))

    def _command(self, start: LoadsimStartPayload) -> tuple[list[str], dict[str, Any]]:
        seconds = str(max(1, int(start.duration_seconds)))  # whole seconds, never more
        module = [sys.executable, "-m", "phoenix_agent.loadsim"]
        if start.profile in SERVING_PROFILES:
            if start.port is None:
                raise TaskFailed(f"the {start.profile} load needs a port to serve on")
            kind = SpikeParameters if start.profile == "spike" else HighCardinalityParameters
            p = kind.model_validate(start.parameters)
            command = [*module, "serve", "--port", str(start.port), "--seconds", seconds,
                       "--parameters", p.model_dump_json()]  # fmt: skip
            if isinstance(p, SpikeParameters):
                command += ["--spike"]
            return command, {"series": p.series * p.metrics}
        if start.profile == "realistic":
            binary = shutil.which("stress-ng")
            if binary is None:
                raise TaskFailed("the 'realistic' load needs stress-ng, not found on this host")
            r = RealisticParameters.model_validate(start.parameters)
            command = [
                binary, "--cpu", str(r.cpu_workers), "--cpu-load", str(r.cpu_load),
                "--vm", "1", "--vm-bytes", r.vm_bytes, "--timeout", f"{seconds}s", "--quiet",
            ]  # fmt: skip
            return command, {}
        if start.profile == "process-churn":
            c = ProcessChurnParameters.model_validate(start.parameters)
            return [*module, "churn", "--seconds", seconds, "--parameters", c.model_dump_json()], {}
        if start.profile == "custom":
            script = CustomParameters.model_validate(start.parameters).script.resolve()
            if script not in self.custom_scripts:
                allowed = ", ".join(map(str, self.custom_scripts)) or "none"
                raise TaskFailed(
                    f"{script} is not on this agent's allow-list "
                    f"(PHOENIX_AGENT_CUSTOM_LOAD_SCRIPTS: {allowed})"
                )
            return [*module, "custom", "--seconds", seconds, "--script", str(script)], {}
        raise TaskFailed(f"this agent cannot run the '{start.profile}' load profile")


def _wait_serving(child: Child, port: int | None, log: Path, control: TaskControl) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        control.check(f"the load (pid {child.pid}) was starting; stopped it")
        if not child.alive():
            raise TaskFailed(
                f"the load exited with status {child.returncode}: {log.read_text()[-500:]}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        control.cancelled.wait(0.1)
    raise TaskFailed(f"the load did not serve on port {port} within 30 s")
