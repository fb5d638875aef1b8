"""Load for experiments: processes whose metrics and resource use the collectors measure.

``high-cardinality`` is a real exporter (prometheus_client) serving an exactly known set of
series, so tests and demos know the ground truth: ``series`` simulated processes (labels
``process`` and ``pid``) for each of ``metrics`` families (``process_cpu_seconds_total``,
``process_resident_memory_bytes``, ``process_open_fds``, ``process_io_read_bytes_total``:
the names the built-in templates work on), with fixed values (process ``i`` has CPU
``1000 / (i + 1)``). ``churn_seconds`` > 0 renames every process that often (new series).
``realistic`` runs stress-ng (CPU and memory workers). Each runs as its own process group
for a bounded time and is stopped as a whole.

Run by the agent as ``python -m phoenix_agent.loadsim high-cardinality --port P ...``.
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

    def collect(self) -> Iterator[Metric]:
        p = self.parameters
        generation = (
            int((time.monotonic() - self._began) // p.churn_seconds) if p.churn_seconds else 0
        )
        for name, kind, value in FAMILIES[: p.metrics]:
            family_class = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            base = name.removesuffix("_total") if kind == "counter" else name
            family = family_class(base, f"Simulated {name}.", labels=["process", "pid"])
            for i in range(p.series):
                family.add_metric([f"proc-{generation}-{i:05d}", str(10_000 + i)], value(i))
            yield family


def serve_high_cardinality(
    port: int, parameters: HighCardinalityParameters, seconds: float
) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HighCardinality(parameters))
    start_http_server(port, addr="127.0.0.1", registry=registry)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait(seconds)


class LoadRunner:
    """The agent's side: start and stop an experiment's load (one per experiment), and find
    it again after an agent restart (``state_dir/loads.json``)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
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
            if start.profile == "high-cardinality":
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
        if start.profile == "high-cardinality":
            if start.port is None:
                raise TaskFailed("the high-cardinality load needs a port to serve on")
            p = HighCardinalityParameters.model_validate(start.parameters)
            command = [
                sys.executable, "-m", "phoenix_agent.loadsim", "high-cardinality",
                "--port", str(start.port), "--series", str(p.series), "--metrics", str(p.metrics),
                "--churn-seconds", str(p.churn_seconds), "--seconds", seconds,
            ]  # fmt: skip
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
        raise TaskFailed(f"this agent cannot run the '{start.profile}' load profile yet")


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
    sub = parser.add_subparsers(dest="profile", required=True)
    high = sub.add_parser("high-cardinality", help="serve an exactly known set of series")
    high.add_argument("--port", type=int, required=True)
    high.add_argument("--series", type=int, default=500)
    high.add_argument("--metrics", type=int, default=4)
    high.add_argument("--churn-seconds", type=float, default=0)
    high.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)
    parameters = HighCardinalityParameters(
        series=args.series, metrics=args.metrics, churn_seconds=args.churn_seconds
    )
    serve_high_cardinality(args.port, parameters, args.seconds)


if __name__ == "__main__":
    main()
