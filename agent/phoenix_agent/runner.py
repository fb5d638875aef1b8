"""The agent's loops: enrol once, then long-poll for tasks and run them, and send heartbeats.

Threads: the poll loop (one long-poll at a time), the heartbeat loop, and a small pool that
runs tasks (each reports ``running``, then ``succeeded``, ``failed`` or ``cancelled``: a
poll's ``cancellations`` set the held task's flag, and its handler stops what it started). The
main thread only waits and handles signals. While the API fails the loops back off (capped
exponential with full jitter, at least the server's ``Retry-After``); a refusal of the agent
itself (401, 403, 410) stops everything with one log line. ``state_dir/status`` holds one
line per loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import psutil
from pydantic import ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception_type

import phoenix_core
from phoenix_agent import selfmetrics
from phoenix_agent.control_plane import ControlPlane, Fatal, Refused, Unavailable
from phoenix_agent.failures import TaskCancelled, TaskFailed
from phoenix_agent.held import TaskControl
from phoenix_agent.identity import Identity, write_atomically
from phoenix_agent.loads import LoadRunner
from phoenix_agent.outages import Outage
from phoenix_agent.retries import backoff, fetch_config
from phoenix_agent.settings import AgentSettings
from phoenix_agent.supervisor import Supervisor, SupervisorSettings
from phoenix_core.errors import ConfigurationError
from phoenix_core.wire import (
    ActivePipelineStatus,
    Heartbeat,
    HostStatus,
    ResourceUsage,
    TaskAction,
    TaskType,
)
from phoenix_core.wire.agent_api import Registration, StatusReport, TaskAssignment
from phoenix_core.wire.tasks import CollectorKind, NoopRunPayload, TaskStatus

__all__ = ["Agent"]

log = logging.getLogger(__name__)
T = TypeVar("T")

EXIT_DRAINED = 0
EXIT_REFUSED = 2
_BACK_CHECK_SECONDS = 0.5
"""How often a backoff looks whether the API is back (see ``Runner._sleep``)."""


Handler = Callable[[dict[str, Any], TaskControl], dict[str, Any] | None]


def _noop(payload: dict[str, Any], control: TaskControl) -> dict[str, Any]:
    return {"note": NoopRunPayload.model_validate(payload).note}


@dataclass(frozen=True)
class _Held:
    task: TaskAssignment
    control: TaskControl
    since: float = field(default_factory=time.monotonic)

    def __str__(self) -> str:
        task = self.task
        variant = task.payload.get("variant")
        of = f" (variant {variant})" if isinstance(variant, str) else ""
        return f"task {task.id} {task.type.value}/{task.action.value}{of} attempt {task.attempt}"


class StatusBoard:
    """``state_dir/status``: one line per loop (what it did last, when), rewritten atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: dict[str, str] = {}
        self._lock = threading.Lock()

    def set(self, loop: str, state: str, detail: str = "") -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._lines[loop] = f"{loop} {state} {now} {detail}".rstrip()
            text = "".join(line + "\n" for _, line in sorted(self._lines.items()))
            try:
                write_atomically(self.path, text, durable=False)  # informational, frequent
            except OSError as exc:  # a full disk must not stop the agent
                log.warning("cannot write %s: %s", self.path, exc)


class Agent:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.draining = threading.Event()
        """Set by the first SIGTERM (or a refusal): take no new work, finish what runs."""
        self._api_back_at = 0.0
        """When a heartbeat last got through after failing (monotonic): the API is back, and
        every loop backing off tries again at once instead of after its backoff."""
        self.done = threading.Event()
        self.status = StatusBoard(settings.state_dir / "status")
        self.exit_code = EXIT_DRAINED
        self._held: dict[int, _Held] = {}
        self._held_lock = threading.Lock()
        self._strangers: set[int] = set()
        """Cancelled tasks this agent does not hold (claimed before it started): said once."""
        self._tasks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="phoenix-task")
        self._plane: ControlPlane | None = None
        self.supervisor = Supervisor(
            SupervisorSettings(
                state_dir=settings.state_dir,
                hostname=settings.hostname,
                binaries={
                    CollectorKind.PROMETHEUS_AGENT: settings.prometheus_agent_binary,
                    CollectorKind.OTELCOL: settings.otelcol_binary,
                },
                apply_timeout_seconds=settings.apply_timeout_seconds,
                restart_backoff_seconds=settings.restart_backoff_seconds,
                stable_seconds=settings.stable_seconds,
                crash_loop_after=settings.crash_loop_after,
                ports=settings.ports,
            ),
            fetch_config=self._fetch_config,
        )
        self.load = LoadRunner(settings.state_dir, settings.custom_load_scripts)
        self._handlers: dict[tuple[TaskType, TaskAction], Handler] = {
            (TaskType.NOOP, TaskAction.RUN): _noop,
            (TaskType.COLLECTOR, TaskAction.START): self.supervisor.start,
            (TaskType.COLLECTOR, TaskAction.RELOAD): self.supervisor.reload,
            (TaskType.COLLECTOR, TaskAction.STOP): self.supervisor.stop,
            (TaskType.LOADSIM, TaskAction.START): self.load.start,
            (TaskType.LOADSIM, TaskAction.STOP): self.load.stop,
        }
        """What this agent can do; any other task fails with a message that says so."""

    # --- lifecycle ------------------------------------------------------------------------

    def run(self) -> int:
        """Enrol if needed, then serve until drained or refused; the exit status."""
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        identity = self._identity()
        if identity is None:  # drained before it could enrol
            return self.exit_code
        self._plane = ControlPlane(self.settings.api_url, identity.token)
        collectors, restarted, dropped = self.supervisor.adopt()
        loads, loads_restarted = self.load.adopt()
        found = (
            f"adopted {collectors} collectors (started {restarted} that were gone again; "
            f"dropped {dropped}) and {loads} loads (started {loads_restarted} again)"
        )
        if collectors or restarted or dropped or loads or loads_restarted:
            log.info("after a restart: %s", found)
        self.status.set("agent", "running", found)
        log.info("phoenix-agent %s serving host %s (%s) for %s", phoenix_core.__version__,
                 self.settings.hostname, identity.host_id, self.settings.api_url)  # fmt: skip
        loops = [
            threading.Thread(target=self._guarded, args=(self._poll_loop,), name="poll"),
            threading.Thread(target=self._guarded, args=(self._heartbeat_loop,), name="beat"),
            threading.Thread(target=self._guarded, args=(self._metrics_loop,), name="metrics"),
        ]
        for loop in loops:
            loop.daemon = True  # a long-poll in flight must not keep a drained agent alive
            loop.start()
        while not self.draining.wait(0.5):  # (a timed wait: signals are handled meanwhile)
            pass
        self._tasks.shutdown(wait=True)  # running tasks finish and report
        # collectors and load keep running: the next start of the agent adopts them
        self.status.set("agent", "stopped", f"exit {self.exit_code}")
        self._plane.close()
        log.info("stopped (exit status %d)", self.exit_code)
        self.done.set()
        return self.exit_code

    def stop_children(self) -> None:
        """Stop every collector and load this agent runs (the second signal)."""
        self.supervisor.stop_all(grace_seconds=5)
        self.load.stop_all()

    def drain(self) -> None:
        if not self.draining.is_set():
            log.info("draining: no new tasks; waiting for the running ones")
            self.draining.set()

    def _guarded(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except Fatal as exc:
            log.error("%s", exc)
            self.status.set(threading.current_thread().name, "refused", str(exc))
            self.exit_code = EXIT_REFUSED
            self.draining.set()
        except Exception:  # a bug: say so, and stop rather than limp on
            log.exception("the %s loop failed", threading.current_thread().name)
            self.exit_code = 1
            self.draining.set()

    # --- enrolment ------------------------------------------------------------------------

    def _identity(self) -> Identity | None:
        identity = Identity.load(self.settings.state_dir)
        if identity is not None:
            return identity
        if self.settings.enrolment_token is None:
            raise ConfigurationError(
                f"This host has not enrolled yet (no {Identity.path(self.settings.state_dir)}): "
                "set PHOENIX_AGENT_ENROLMENT_TOKEN to an enrolment token from "
                "'phoenix enrolment-token create'."
            )
        plane = ControlPlane(
            self.settings.api_url, self.settings.enrolment_token.get_secret_value()
        )
        registration = Registration(
            hostname=self.settings.hostname,
            agent_version=phoenix_core.__version__,
            labels=self.settings.labels,
        )
        try:
            result = self._retry("enrol", lambda: plane.register(registration))
        except Fatal as exc:
            log.error("%s", exc)
            self.exit_code = EXIT_REFUSED
            return None
        finally:
            plane.close()
        if result is None:
            return None
        identity = Identity(result.host_id, result.token)
        identity.save(self.settings.state_dir)
        log.info("enrolled as host %s", result.host_id)
        return identity

    # --- the loops ------------------------------------------------------------------------

    def _poll_loop(self) -> None:
        plane = self._plane
        assert plane is not None
        while not self.draining.is_set():
            self.status.set("poll", "waiting", f"{len(self._held)} tasks held")
            result = self._retry("poll", lambda: plane.poll(wait=self.settings.poll_wait_seconds))
            if result is None or self.draining.is_set():
                return  # tasks claimed just now go back to the queue when their lease expires
            for task in result.tasks:
                with self._held_lock:
                    if task.id in self._held:
                        continue
                    held = _Held(task, TaskControl.claimed(task.lease_expires_at))
                    self._held[task.id] = held
                log.info("%s: claimed", held)
                self._tasks.submit(self._execute, held)
            cancelled = self._cancel(result.cancellations)
            self.status.set("poll", "ok", f"{len(result.tasks)} tasks received, "
                            f"{cancelled} cancelled")  # fmt: skip
            if result.cancellations and not result.tasks and not cancelled:
                # the API answers at once while a cancelled task is held: no busy loop
                self.draining.wait(1.0)

    def _cancel(self, task_ids: list[int]) -> int:
        """Flag the held tasks a poll says are cancelled; how many were not flagged yet."""
        fresh = 0
        for task_id in task_ids:
            with self._held_lock:
                held = self._held.get(task_id)
            if held is None:
                if task_id not in self._strangers:
                    self._strangers.add(task_id)
                    log.warning("task %s: cancelled, but this agent does not hold it", task_id)
                continue
            if not held.control.cancelled.is_set():
                log.info("task %s: cancelled by the control plane; stopping it", task_id)
                held.control.cancelled.set()
                fresh += 1
        return fresh

    def _heartbeat_loop(self) -> None:
        plane = self._plane
        assert plane is not None
        outage = Outage("heartbeat", log)
        while not self.draining.is_set():
            try:
                sent = time.monotonic()
                beat = self._heartbeat()
                extended = plane.heartbeat(beat)
                self._extend(beat.active_tasks, sent)
                self.status.set("heartbeat", "ok", f"{extended} leases extended")
                if outage.worked():
                    self._api_back_at = time.monotonic()
            except Unavailable as exc:
                self.status.set("heartbeat", "failing", str(exc))
                outage.failed(exc)
            except Refused as exc:
                self.status.set("heartbeat", "refused", str(exc))
                outage.failed(exc)
            if self.draining.wait(self.settings.heartbeat_seconds):
                return

    def _metrics_loop(self) -> None:
        plane = self._plane
        assert plane is not None
        sending, pushing = Outage("sending metrics", log), Outage("push to the Pushgateway", log)
        while not self.draining.wait(self.settings.metrics_seconds):
            with self._held_lock:
                held = len(self._held)
            measured = selfmetrics.measure(held, self.supervisor.reports(), self.load.pids())
            try:
                stored = sum(plane.metrics(batch) for batch in selfmetrics.to_batches(measured))
                self.status.set("metrics", "ok", f"{stored} samples stored")
                sending.worked()
            except (Unavailable, Refused) as exc:
                self.status.set("metrics", "failing", str(exc))
                sending.failed(exc)
            gateway = self.settings.pushgateway_url
            if gateway:
                try:
                    selfmetrics.push(gateway, self.settings.hostname, measured)
                except OSError as exc:  # urllib's errors: unreachable, refused, HTTP errors
                    self.status.set("pushgateway", "failing", str(exc))
                    pushing.failed(f"{gateway}: {exc}")
                else:
                    self.status.set("pushgateway", "ok", f"{len(measured)} series pushed")
                    pushing.worked()

    # --- tasks ----------------------------------------------------------------------------

    def _extend(self, task_ids: list[int], since: float) -> None:
        """A heartbeat sent at ``since`` extended the leases of these held tasks."""
        with self._held_lock:
            for task_id in task_ids:
                if (held := self._held.get(task_id)) is not None:
                    held.control.extend(since)

    def _execute(self, held: _Held) -> None:
        task, control = held.task, held.control
        handler = self._handlers.get((task.type, task.action))
        try:
            if handler is None:
                self._report(held, TaskStatus.FAILED, error=(
                    f"phoenix-agent {phoenix_core.__version__} cannot run "
                    f"{task.type.value}/{task.action.value} tasks"
                ))  # fmt: skip
                return
            if control.cancelled.is_set():
                self._report(held, TaskStatus.CANCELLED, error=(
                    "cancelled by the control plane before it started"))  # fmt: skip
                return
            if not self._report(held, TaskStatus.RUNNING):
                return
            try:
                result = handler(task.payload, control)
            except TaskCancelled as exc:
                self._report(held, TaskStatus.CANCELLED, error=str(exc))
            except ValidationError as exc:
                self._report(held, TaskStatus.FAILED, error=f"bad payload: {exc}")
            except TaskFailed as exc:
                self._report(held, TaskStatus.FAILED, error=str(exc))
            else:
                self._report(held, TaskStatus.SUCCEEDED, result=result)
        except Fatal as exc:
            log.error("%s", exc)
            self.exit_code = EXIT_REFUSED
            self.draining.set()
        finally:
            with self._held_lock:
                self._held.pop(task.id, None)

    def _report(
        self,
        held: _Held,
        status: TaskStatus,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        """Report until the API takes it; False if it refused (the lease is lost)."""
        plane = self._plane
        assert plane is not None
        task = held.task
        report = StatusReport(
            attempt=task.attempt, status=status, result=result, error_message=error
        )
        try:
            self._retry(f"report {task.id}", lambda: plane.report(task.id, report), always=True)
        except Refused as exc:
            log.warning("%s: %s", held, exc)
            return False
        if status is TaskStatus.RUNNING:
            log.debug("%s: running", held)
        else:
            took = time.monotonic() - held.since
            log.info("%s: %s in %.1f s%s", held, status.value, took, f": {error}" if error else "")
        return True

    # --- helpers --------------------------------------------------------------------------

    def _retry(self, what: str, call: Callable[[], T], *, always: bool = False) -> T | None:
        """``call`` until it succeeds, backing off while the API is unavailable; None once
        draining (unless ``always``: a task's report is worth waiting for)."""

        def stop(state: RetryCallState) -> bool:
            return self.draining.is_set() and not always

        outage = Outage(what, log)

        def note(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            self.status.set(what.split(maxsplit=1)[0], "retrying", f"in {wait:.1f} s: {exc}")
            outage.failed(f"{exc}; retrying in {wait:.1f} s")

        retrying = Retrying(
            retry=retry_if_exception_type(Unavailable),
            wait=backoff(self.settings.max_backoff_seconds),
            stop=stop,
            sleep=self._sleep,
            before_sleep=note,
            reraise=True,
        )
        try:
            result = retrying(call)
        except Unavailable:
            return None  # stopped by draining
        outage.worked()
        return result

    def _sleep(self, seconds: float) -> None:
        """Back off for ``seconds``, or less: draining ends the wait, and so does a heartbeat
        that gets through again (after an API restart a poll need not wait out a backoff that
        grew up to ``max_backoff_seconds`` while the API was down)."""
        began = time.monotonic()
        deadline = began + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.draining.wait(min(left, _BACK_CHECK_SECONDS)) or self._api_back_at > began:
                return

    def _heartbeat(self) -> Heartbeat:
        with self._held_lock:
            held = sorted(self._held)
        memory = psutil.virtual_memory()
        usage = ResourceUsage(
            cpu_percent=psutil.cpu_percent(interval=None),
            memory_percent=memory.percent,
            memory_bytes=memory.used,
            disk_percent=psutil.disk_usage(str(self.settings.state_dir)).percent,
        )
        pipelines = self.supervisor.reports()
        troubled = any(
            p.status in (ActivePipelineStatus.CRASH_LOOPING, ActivePipelineStatus.FAILED)
            for p in pipelines
        )
        return Heartbeat(
            agent_version=phoenix_core.__version__,
            status=HostStatus.DEGRADED if troubled else HostStatus.HEALTHY,
            active_tasks=held,
            resource_usage=usage,
            active_pipelines=pipelines,
        )

    def _fetch_config(self, url: str, control: TaskControl) -> str:
        plane = self._plane
        assert plane is not None
        return fetch_config(
            plane,
            url,
            control,
            max_backoff_seconds=self.settings.max_backoff_seconds,
            note=lambda detail: self.status.set("download", "retrying", detail),
        )
