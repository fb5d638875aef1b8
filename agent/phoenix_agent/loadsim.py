"""Load for experiments: processes whose metrics and resource use the collectors measure.

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

Run by the agent as ``python -m phoenix_agent.loadsim serve|churn|custom ...``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from pydantic import BaseModel, ConfigDict, Field

from phoenix_agent.children import Child, signal_group
from phoenix_agent.children import Identity as ProcessIdentity
from phoenix_agent.failures import TaskFailed
from phoenix_agent.identity import write_atomically
from phoenix_core.wire.tasks import LoadsimStartPayload, LoadsimStopPayload

__all__ = ["HighCardinality", "LoadRunner"]

FAMILIES = (
    ("process_cpu_seconds_total", "counter", lambda i: 1000.0 / (i + 1)),
    ("process_resident_memory_bytes", "gauge", lambda i: 1_000_000.0 * (i % 97 + 1)),
    ("process_open_fds", "gauge", lambda i: float(i % 50)),
    ("process_io_read_bytes_total", "counter", lambda i: 1000.0 * i),
)


class HighCardinalityParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    series: int = Field(default=500, ge=1, le=200_000, description="Processes per metric.")
    metrics: int = Field(default=4, ge=1, le=len(FAMILIES))
    churn_seconds: float = Field(default=0, ge=0, description="Rename processes this often.")


class SpikeParameters(HighCardinalityParameters):
    """High cardinality that jumps to ``burst_series`` for ``burst_seconds`` of every
    ``every_seconds``."""

    series: int = Field(default=200, ge=1, le=200_000)
    burst_series: int = Field(default=1000, ge=1, le=200_000)
    every_seconds: float = Field(default=60, gt=0)
    burst_seconds: float = Field(default=10, gt=0)


class ProcessChurnParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: float = Field(default=5, gt=0, le=500, description="Processes started per second.")
    lifetime_seconds: float = Field(default=1, gt=0, le=3600)


class CustomParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    script: Path = Field(description="An executable on the agent's allow-list.")


class RealisticParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpu_workers: int = Field(default=1, ge=1, le=64)
    cpu_load: int = Field(default=30, ge=1, le=100, description="Percent per CPU worker.")
    vm_bytes: str = Field(default="64M", pattern=r"^\d+[KMG]?$")


class HighCardinality:
    """The exporter's collector: the same series on every scrape (until churn renames them)."""

    def __init__(self, parameters: HighCardinalityParameters) -> None:
        self.parameters = parameters
        self._began = time.monotonic()

    def series_now(self) -> int:
        p, age = self.parameters, time.monotonic() - self._began
        if isinstance(p, SpikeParameters) and age % p.every_seconds >= (
            p.every_seconds - p.burst_seconds
        ):
            return p.burst_series
        return p.series

    def collect(self) -> Iterator[Metric]:
        p = self.parameters
        generation = (
            int((time.monotonic() - self._began) // p.churn_seconds) if p.churn_seconds else 0
        )
        count = self.series_now()
        for name, kind, value in FAMILIES[: p.metrics]:
            family_class = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            base = name.removesuffix("_total") if kind == "counter" else name
            family = family_class(base, f"Simulated {name}.", labels=["process", "pid"])
            for i in range(count):
                family.add_metric([f"proc-{generation}-{i:05d}", str(10_000 + i)], value(i))
            yield family


def serve_high_cardinality(
    port: int, parameters: HighCardinalityParameters, seconds: float
) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HighCardinality(parameters))
    start_http_server(port, addr="127.0.0.1", registry=registry)
    _until_stopped(seconds).wait()


def _until_stopped(seconds: float) -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    return stop


def churn_processes(parameters: ProcessChurnParameters, seconds: float) -> None:
    """Start short-lived processes at the given rate (all in this process group)."""
    stop = _until_stopped(seconds)
    living: list[subprocess.Popen[bytes]] = []
    sleep = shutil.which("sleep") or "/bin/sleep"
    while not stop.wait(1 / parameters.rate):
        living = [p for p in living if p.poll() is None]
        living.append(subprocess.Popen([sleep, str(parameters.lifetime_seconds)]))
    for process in living:
        process.kill()
        process.wait()


def run_custom(script: Path, seconds: float) -> None:
    """Run ``script`` (its own process group: this one) for at most ``seconds``."""
    stop = _until_stopped(seconds)
    process = subprocess.Popen([str(script)])
    while process.poll() is None and not stop.wait(0.2):
        pass
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class LoadRunner:
    """The agent's side: start and stop an experiment's load (one per experiment), and find
    it again after an agent restart (``state_dir/loads.json``)."""

    def __init__(self, state_dir: Path, custom_scripts: list[Path] | None = None) -> None:
        self.state_dir = state_dir
        self.custom_scripts = [p.resolve() for p in custom_scripts or []]
        self._running: dict[uuid.UUID, Child] = {}
        self._lock = threading.RLock()

    @property
    def state_file(self) -> Path:
        return self.state_dir / "loads.json"

    def adopt(self) -> tuple[int, int]:
        """Take over loads a previous run left running; (adopted, cleaned up)."""
        try:
            entries = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return 0, 0
        except (OSError, ValueError):
            return 0, 0
        adopted = cleaned = 0
        for entry in entries:
            identity = ProcessIdentity.from_json(entry["process"])
            child = Child.adopt(identity)
            if child is None:
                signal_group(identity.pid, signal.SIGKILL)
                cleaned += 1
                continue
            with self._lock:
                self._running[uuid.UUID(entry["experiment_id"])] = child
            adopted += 1
        self._save()
        return adopted, cleaned

    def start(self, payload: dict[str, Any], cancelled: threading.Event) -> dict[str, Any]:
        start = LoadsimStartPayload.model_validate(payload)
        with self._lock:
            current = self._running.get(start.experiment_id)
        if current is not None and current.alive():
            return {"pid": current.pid, "already_running": True}
        folder = self.state_dir / "load" / str(start.experiment_id)
        folder.mkdir(parents=True, exist_ok=True)
        command, result = self._command(start)
        with (folder / "load.log").open("ab") as log:
            child = Child.spawn(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=folder,
            )  # fmt: skip
        try:
            if start.profile in ("high-cardinality", "spike"):
                _wait_serving(child, start.port, folder / "load.log")
        except TaskFailed:
            child.terminate(5)
            raise
        with self._lock:
            self._running[start.experiment_id] = child
            self._save()
        return {"pid": child.pid, **result}

    def stop(self, payload: dict[str, Any], cancelled: threading.Event) -> dict[str, Any]:
        stop = LoadsimStopPayload.model_validate(payload)
        with self._lock:
            child = self._running.pop(stop.experiment_id, None)
            self._save()
        if child is None:
            return {"stopped": False}
        child.terminate(5)
        return {"stopped": True}

    def pids(self) -> dict[uuid.UUID, int]:
        """Each experiment's running load process."""
        with self._lock:
            return {key: child.pid for key, child in self._running.items() if child.alive()}

    def stop_all(self) -> None:
        with self._lock:
            running = list(self._running.values())
            self._running.clear()
            self._save()
        for child in running:
            child.terminate(5)

    def _save(self) -> None:
        with self._lock:
            entries = [
                {"experiment_id": str(key), "process": child.identity.to_json()}
                for key, child in self._running.items()
            ]
            write_atomically(self.state_file, json.dumps(entries, indent=2))

    def _command(self, start: LoadsimStartPayload) -> tuple[list[str], dict[str, Any]]:
        seconds = f"{start.duration_seconds:.0f}"
        module = [sys.executable, "-m", "phoenix_agent.loadsim"]
        if start.profile in ("high-cardinality", "spike"):
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


def _wait_serving(child: Child, port: int | None, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not child.alive():
            raise TaskFailed(
                f"the load exited with status {child.returncode}: {log.read_text()[-500:]}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TaskFailed(f"the load did not serve on port {port} within 30 s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m phoenix_agent.loadsim")
    sub = parser.add_subparsers(dest="what", required=True)
    serve = sub.add_parser("serve", help="serve an exactly known set of series")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--spike", action="store_true", help="with bursts of series")
    churn = sub.add_parser("churn", help="start short-lived processes at a rate")
    custom = sub.add_parser("custom", help="run an allowed script for a bounded time")
    custom.add_argument("--script", type=Path, required=True)
    for command in (serve, churn, custom):
        command.add_argument("--seconds", type=float, required=True)
    for command in (serve, churn):
        command.add_argument("--parameters", default="{}", help="the profile's parameters, JSON")
    args = parser.parse_args(argv)
    if args.what == "serve":
        kind = SpikeParameters if args.spike else HighCardinalityParameters
        serve_high_cardinality(args.port, kind.model_validate_json(args.parameters), args.seconds)
    elif args.what == "churn":
        churn_processes(ProcessChurnParameters.model_validate_json(args.parameters), args.seconds)
    else:
        run_custom(args.script, args.seconds)


if __name__ == "__main__":
    main()
