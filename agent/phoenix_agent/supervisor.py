"""Collectors on this host: one commander per (experiment, variant).

Start: download the rendered config, verify its SHA-256, substitute the host-local values
(``%%phoenix:data_dir%%``, ``%%phoenix:hostname%%``; any other ``%%phoenix:…%%`` fails the
task with its name), write it atomically, spawn the collector in its own process group with
its own log file, and report success only once it is healthy (alive, and its own endpoint
answering) within the apply timeout. A collector that exits is restarted after a capped
exponential backoff; one that fails ``crash_loop_after`` times without staying up
``stable_seconds`` is ``crash_looping`` and left stopped (the heartbeat says so, and the
controller fails its experiment). Stop: SIGTERM to the process group, the grace period,
then SIGKILL of the group and of any child that left it. Reload: the running process takes the
new config in place (``phoenix_agent.reloads``; same pid), or keeps the last good one when it
refuses it; a process that cannot (not running, or started without the means) is restarted on
the new config through the same health gate, or back on the last good one. A start or reload
the control plane cancels stops where it is: a download stops retrying, a collector still
starting is stopped (SIGTERM, grace, SIGKILL of its group) and the task ends ``cancelled``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from phoenix_agent.children import Child
from phoenix_agent.children import Identity as ProcessIdentity
from phoenix_agent.failures import TaskCancelled, TaskFailed
from phoenix_agent.held import TaskControl
from phoenix_agent.identity import write_atomically
from phoenix_agent.reloads import (
    LIFECYCLE_FLAG,
    ReloadFailed,
    reload_otelcol,
    reload_prometheus_agent,
    validate_otelcol,
)
from phoenix_core.processes import signal_group
from phoenix_core.wire import ActivePipelineReport, ActivePipelineStatus
from phoenix_core.wire.tasks import (
    CollectorKind,
    CollectorReloadPayload,
    CollectorStartPayload,
    CollectorStopPayload,
)

__all__ = ["Supervisor", "SupervisorSettings", "substitute"]

log = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"%%phoenix:([A-Za-z0-9_]*)%%")
"""Host-local values in a config: never collides with Prometheus' ``${1}`` or ``${env:…}``."""


@dataclass(frozen=True)
class SupervisorSettings:
    state_dir: Path
    hostname: str
    binaries: dict[CollectorKind, str]
    apply_timeout_seconds: float = 30.0
    restart_backoff_seconds: float = 1.0
    restart_backoff_cap_seconds: float = 30.0
    stable_seconds: float = 60.0
    crash_loop_after: int = 5
    ports: range | None = None
    """The ports collectors may listen on (None: any)."""


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace each ``%%phoenix:NAME%%`` by its host-local value; an unknown NAME fails."""
    unknown = sorted({m.group(1) for m in PLACEHOLDER.finditer(text)} - set(values))
    if unknown:
        names = ", ".join(f"%%phoenix:{name}%%" for name in unknown)
        raise TaskFailed(
            f"the config uses unknown host-local values {names} (known: {', '.join(values)})"
        )
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


# --- drivers -----------------------------------------------------------------------------------


@cache
def _prometheus_agent_flag(binary: str) -> str:
    """``--agent`` (Prometheus 3) or ``--enable-feature=agent`` (2.x), from its own help."""
    help_text = subprocess.run(
        [binary, "--help"], capture_output=True, text=True, timeout=30, check=False
    ).stderr
    return (
        "--agent"
        if re.search(r"^\s+--agent\b", help_text, re.MULTILINE)
        else ("--enable-feature=agent")
    )


def _command(kind: CollectorKind, binary: str, config: Path, ports: dict[str, int]) -> list[str]:
    if kind is CollectorKind.PROMETHEUS_AGENT:
        return [
            binary,
            _prometheus_agent_flag(binary),
            f"--config.file={config}",
            f"--storage.agent.path={config.parent / 'wal'}",
            f"--web.listen-address=127.0.0.1:{ports['http']}",
            LIFECYCLE_FLAG,  # reloads in place (POST /-/reload), on loopback only
        ]
    return [binary, f"--config={config}"]


def _health_url(kind: CollectorKind, ports: dict[str, int]) -> str:
    if kind is CollectorKind.PROMETHEUS_AGENT:
        return f"http://127.0.0.1:{ports['http']}/-/ready"
    return f"http://127.0.0.1:{ports['health']}/"


# --- one collector -----------------------------------------------------------------------------


class Collector:
    """One variant's collector process, kept running by its own monitor thread."""

    def __init__(
        self,
        payload: CollectorStartPayload,
        binary: str,
        folder: Path,
        settings: SupervisorSettings,
        on_change: Callable[[], None],
    ) -> None:
        self.payload = payload
        self.binary = binary
        self.folder = folder
        self.settings = settings
        self.on_change = on_change
        self.status = ActivePipelineStatus.STARTING
        self.restarts = 0
        self.child: Child | None = None
        self._started_at = 0.0
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None

    # what it runs, all from the task that started it
    @property
    def experiment_id(self) -> uuid.UUID:
        return self.payload.experiment_id

    @property
    def variant(self) -> str:
        return self.payload.variant

    @property
    def kind(self) -> CollectorKind:
        return self.payload.collector

    @property
    def ports(self) -> dict[str, int]:
        return self.payload.ports

    @property
    def config_sha256(self) -> str:
        return self.payload.config_sha256

    @property
    def config(self) -> Path:
        return self.folder / "config.yml"

    @property
    def log_path(self) -> Path:
        return self.folder / "collector.log"

    def spawn(self) -> None:
        command = _command(self.kind, self.binary, self.config, self.ports)
        with self.log_path.open("ab") as out:
            self.child = Child.spawn(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.folder,
            )  # fmt: skip
        self._started_at = time.monotonic()
        log.info("%s/%s: started %s (pid %s)", self.experiment_id, self.variant,
                 self.kind.value, self.child.pid)  # fmt: skip
        self.on_change()

    def adopted(self, child: Child, restarts: int = 0) -> None:
        """Take over a collector found running after an agent restart."""
        self.child = child
        self.restarts = restarts
        self.status = ActivePipelineStatus.RUNNING
        self._started_at = time.monotonic()
        log.info("%s/%s: adopted %s (pid %s)", self.experiment_id, self.variant,
                 self.kind.value, child.pid)  # fmt: skip

    def wait_healthy(self, control: TaskControl) -> None:
        """Alive and answering its health endpoint within the apply timeout, or fail; stop
        waiting once the task is cancelled."""
        assert self.child is not None
        url = _health_url(self.kind, self.ports)
        deadline = time.monotonic() + self.settings.apply_timeout_seconds
        while time.monotonic() < deadline:
            control.check(f"{self.kind.value} (pid {self.child.pid}) was starting; stopped it")
            if not self.child.alive():
                raise TaskFailed(
                    f"{self.kind.value} exited with status {self.child.returncode} while "
                    f"starting: {self.log_tail()}"
                )
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    self.status = ActivePipelineStatus.RUNNING
                    return
            except httpx.TransportError:
                pass
            control.cancelled.wait(0.1)
        raise TaskFailed(
            f"{self.kind.value} was not healthy ({url}) within "
            f"{self.settings.apply_timeout_seconds:.0f} s: {self.log_tail()}"
        )

    def watch(self) -> None:
        """Keep it running from now on (restarts with backoff; crash loop detection)."""
        self._monitor = threading.Thread(
            target=self._keep_running, name=f"collector-{self.variant}", daemon=True
        )
        self._monitor.start()

    def _keep_running(self) -> None:
        quick_failures = 0
        while not self._stopping.is_set():
            child = self.child
            assert child is not None
            if child.alive():
                self._stopping.wait(0.2)
                continue
            if self._stopping.is_set():
                return
            up = time.monotonic() - self._started_at
            quick_failures = 0 if up >= self.settings.stable_seconds else quick_failures + 1
            log.warning("%s/%s: %s exited with status %s after %.1f s", self.experiment_id,
                        self.variant, self.kind.value, child.returncode, up)  # fmt: skip
            if quick_failures >= self.settings.crash_loop_after:
                self.status = ActivePipelineStatus.CRASH_LOOPING
                log.error("%s/%s: crash-looping (%d quick failures); not restarting it",
                          self.experiment_id, self.variant, quick_failures)  # fmt: skip
                return
            delay = min(
                self.settings.restart_backoff_cap_seconds,
                self.settings.restart_backoff_seconds * 2 ** max(quick_failures - 1, 0),
            )
            self.status = ActivePipelineStatus.STARTING
            if self._stopping.wait(delay):
                return
            self.restarts += 1
            self.spawn()
            self.status = ActivePipelineStatus.RUNNING

    def reloadable(self, payload: CollectorStartPayload, binary: str) -> bool:
        """Whether the running process can take ``payload``'s config in place: the same
        collector and ports, and (Prometheus) started with the lifecycle API."""
        child = self.child
        return (
            child is not None
            and child.alive()
            and payload.collector is self.kind
            and payload.ports == self.ports
            and binary == self.binary
            and (
                self.kind is not CollectorKind.PROMETHEUS_AGENT
                or LIFECYCLE_FLAG in child.identity.cmdline
            )
        )

    def reload(self, payload: CollectorStartPayload, config: str) -> dict[str, Any]:
        """The running process takes ``config`` (same pid); ``ReloadFailed`` leaves the last
        good config in its file."""
        child = self.child
        assert child is not None
        timeout = self.settings.apply_timeout_seconds
        if self.kind is CollectorKind.OTELCOL:  # otelcol exits on a config it cannot build
            candidate = self.folder / "config.next.yml"
            write_atomically(candidate, config)
            try:
                validate_otelcol(self.binary, candidate, timeout)
            finally:
                candidate.unlink(missing_ok=True)
        last_good = self.config.read_text()
        write_atomically(self.config, config)
        try:
            if self.kind is CollectorKind.PROMETHEUS_AGENT:
                reload_prometheus_agent(self.ports["http"], timeout)
            else:
                reload_otelcol(child, _health_url(self.kind, self.ports), timeout)
        except ReloadFailed as exc:
            write_atomically(self.config, last_good)
            raise ReloadFailed(f"{exc}: {self.log_tail()}", restart=exc.restart) from exc
        self.payload = payload
        log.info("%s/%s: %s (pid %s) reloaded in place", self.experiment_id, self.variant,
                 self.kind.value, child.pid)  # fmt: skip
        self.on_change()
        return {"pid": child.pid, "config_sha256": self.config_sha256, "in_place": True}

    def stop(self, grace_seconds: float) -> None:
        """SIGTERM to its process group, then SIGKILL after the grace period; no orphans."""
        self._stopping.set()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout=5)
        if self.child is not None:
            self.status = ActivePipelineStatus.STOPPING
            self.child.terminate(grace_seconds)
            log.info("%s/%s: stopped %s (pid %s)", self.experiment_id, self.variant,
                     self.kind.value, self.child.pid)  # fmt: skip
        self.status = ActivePipelineStatus.STOPPED

    def report(self) -> ActivePipelineReport:
        alive = self.child is not None and self.child.alive()
        return ActivePipelineReport(
            experiment_id=self.experiment_id,
            variant=self.variant,
            config_sha256=self.config_sha256,
            status=self.status,
            pid=self.child.pid if alive and self.child else None,
            restarts=self.restarts,
        )

    def state(self) -> dict[str, Any]:
        """What finding it again after an agent restart takes."""
        assert self.child is not None
        return {
            "payload": self.payload.model_dump(mode="json"),
            "binary": self.binary,
            "folder": str(self.folder),
            "process": self.child.identity.to_json(),
            "restarts": self.restarts,
        }

    def log_tail(self, lines: int = 5) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return "(no log)"
        return " | ".join(tail) or "(empty log)"


# --- all collectors of the host ----------------------------------------------------------------


class Supervisor:
    """Start, reload and stop collectors for tasks; report them in heartbeats; find them
    again after an agent restart (``state_dir/collectors.json``)."""

    def __init__(
        self, settings: SupervisorSettings, fetch_config: Callable[[str, TaskControl], str]
    ) -> None:
        self.settings = settings
        self._fetch_config = fetch_config
        self._collectors: dict[tuple[uuid.UUID, str], Collector] = {}
        self._lock = threading.RLock()

    @property
    def state_file(self) -> Path:
        return self.settings.state_dir / "collectors.json"

    def adopt(self) -> tuple[int, int, int]:
        """Take over the collectors a previous run of the agent left (``collectors.json``):
        a live one (same pid, start time and command line) is watched again; a dead one (the
        host rebooted, the container restarted, it died while no agent watched) is started
        again from its config on disk, as its monitor would have done, once what is left of its
        process group is killed; one whose config is gone is dropped.
        (adopted, restarted, dropped)."""
        try:
            entries = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return 0, 0, 0
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s (%s): no collectors adopted", self.state_file, exc)
            return 0, 0, 0
        adopted = restarted = dropped = 0
        for entry in entries:
            identity = ProcessIdentity.from_json(entry["process"])
            child = Child.adopt(identity)
            payload = CollectorStartPayload.model_validate(entry["payload"])
            collector = Collector(
                payload, entry["binary"], Path(entry["folder"]), self.settings, self._save
            )
            if child is not None:
                collector.adopted(child, restarts=int(entry.get("restarts", 0)))
                adopted += 1
            else:
                signal_group(identity.pid, signal.SIGKILL)  # what is left of its group, if any
                if not collector.config.is_file():
                    log.warning("%s/%s: its collector (pid %s) is gone and so is its config; "
                                "dropped", payload.experiment_id, payload.variant,
                                identity.pid)  # fmt: skip
                    dropped += 1
                    continue
                log.info("%s/%s: its collector (pid %s) is gone; starting it again",
                         payload.experiment_id, payload.variant, identity.pid)  # fmt: skip
                collector.restarts = int(entry.get("restarts", 0)) + 1
                collector.spawn()
                collector.status = ActivePipelineStatus.RUNNING
                restarted += 1
            collector.watch()
            with self._lock:
                self._collectors[(payload.experiment_id, payload.variant)] = collector
        self._save()
        return adopted, restarted, dropped

    def start(self, payload: dict[str, Any], control: TaskControl) -> dict[str, Any]:
        start = CollectorStartPayload.model_validate(payload)
        key = (start.experiment_id, start.variant)
        with self._lock:
            current = self._collectors.get(key)
        if current and current.config_sha256 == start.config_sha256 and current.report().pid:
            return {"pid": current.report().pid, "already_running": True}
        collector = self._prepare(start, control)
        if current is not None:
            current.stop(10)
        return self._launch(key, collector, control)

    def reload(self, payload: dict[str, Any], control: TaskControl) -> dict[str, Any]:
        reload = CollectorReloadPayload.model_validate(payload)
        key = (reload.experiment_id, reload.variant)
        with self._lock:
            current = self._collectors.get(key)
        if current is None:
            raise TaskFailed(f"no collector of variant {reload.variant} runs here to reload")
        if current.config_sha256 == reload.config_sha256:
            return {"pid": current.report().pid, "unchanged": True}
        binary, folder, text = self._checked_config(reload, control)
        if current.reloadable(reload, binary):
            control.check(f"{current.kind.value} was about to reload")
            try:
                return current.reload(reload, text)
            except ReloadFailed as exc:
                if not exc.restart:
                    raise TaskFailed(f"{exc}; still running the last good config") from exc
                current.stop(10)  # and its monitor, which would start it again
                again = Collector(current.payload, current.binary, folder, self.settings,
                                  self._save)  # fmt: skip
                again.restarts = current.restarts + 1
                self._launch(key, again, TaskControl())
                raise TaskFailed(f"{exc}; started again on the last good config") from exc
        last_good = current.config.read_text()
        collector = Collector(reload, binary, folder, self.settings, self._save)
        write_atomically(collector.config, text)
        current.stop(10)
        try:
            return self._launch(key, collector, control)
        except (TaskFailed, TaskCancelled) as exc:
            write_atomically(collector.config, last_good)
            collector.payload = current.payload
            self._launch(key, collector, TaskControl())
            raise type(exc)(f"{exc}; back on the last good config") from exc

    def stop(self, payload: dict[str, Any], control: TaskControl) -> dict[str, Any]:
        stop = CollectorStopPayload.model_validate(payload)
        with self._lock:
            collector = self._collectors.pop((stop.experiment_id, stop.variant), None)
        if collector is None:
            return {"stopped": False}
        collector.stop(stop.grace_seconds)
        self._save()
        return {"stopped": True}

    def stop_all(self, grace_seconds: float = 10.0) -> None:
        with self._lock:
            collectors = list(self._collectors.values())
            self._collectors.clear()
        for collector in collectors:
            collector.stop(grace_seconds)
        self._save()

    def reports(self) -> list[ActivePipelineReport]:
        with self._lock:
            return [c.report() for c in self._collectors.values()]

    def _save(self) -> None:
        with self._lock:
            entries = [c.state() for c in self._collectors.values() if c.child is not None]
            write_atomically(self.state_file, json.dumps(entries, indent=2))

    def _prepare(self, payload: CollectorStartPayload, control: TaskControl) -> Collector:
        binary, folder, text = self._checked_config(payload, control)
        collector = Collector(payload, binary, folder, self.settings, self._save)
        write_atomically(collector.config, text)
        return collector

    def _checked_config(
        self, payload: CollectorStartPayload, control: TaskControl
    ) -> tuple[str, Path, str]:
        """The collector's binary, its folder and its config (downloaded, verified, with the
        host-local values substituted); ``TaskFailed`` says what is wrong."""
        allowed = self.settings.ports
        outside = {n: p for n, p in payload.ports.items() if allowed and p not in allowed}
        if allowed and outside:
            raise TaskFailed(
                f"port(s) {outside} outside this host's range {allowed.start}-"
                f"{allowed.stop - 1} (PHOENIX_AGENT_PORT_RANGE)"
            )
        binary = self.settings.binaries[payload.collector]
        resolved = shutil.which(binary)
        if resolved is None:
            raise TaskFailed(
                f"{payload.collector.value} binary {binary!r} not found on this host "
                f"(PHOENIX_AGENT_{payload.collector.name}_BINARY)"
            )
        text = self._fetch_config(payload.config_url, control)
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest != payload.config_sha256:
            raise TaskFailed(
                f"the config from {payload.config_url} has SHA-256 {digest}, "
                f"not {payload.config_sha256}"
            )
        folder = (
            self.settings.state_dir / "collectors" / str(payload.experiment_id) / payload.variant
        )
        folder.mkdir(parents=True, exist_ok=True)
        config = substitute(text, {"data_dir": str(folder), "hostname": self.settings.hostname})
        return resolved, folder, config

    def _launch(
        self, key: tuple[uuid.UUID, str], collector: Collector, control: TaskControl
    ) -> dict[str, Any]:
        control.check(f"{collector.kind.value} was about to start")
        collector.spawn()
        try:
            collector.wait_healthy(control)
        except (TaskFailed, TaskCancelled):
            collector.stop(5)
            raise
        with self._lock:
            self._collectors[key] = collector
        self._save()
        collector.watch()
        assert collector.child is not None
        return {"pid": collector.child.pid, "config_sha256": collector.config_sha256}
