"""The agent's loops: enrol once, then long-poll for tasks and run them, and send heartbeats.

Threads: the poll loop (one long-poll at a time), the heartbeat loop, and a small pool that
runs tasks (each reports ``running``, then ``succeeded`` or ``failed``). The main thread only
waits and handles signals. While the API fails the loops back off (capped exponential with
full jitter, at least the server's ``Retry-After``); a refusal of the agent itself (401, 403,
410) stops everything with one log line. ``state_dir/status`` holds one line per loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import psutil
from pydantic import ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_random_exponential

import phoenix_core
from phoenix_agent import selfmetrics
from phoenix_agent.control_plane import ControlPlane, Fatal, Refused, Unavailable
from phoenix_agent.failures import TaskFailed
from phoenix_agent.identity import Identity, write_atomically
from phoenix_agent.loads import LoadRunner
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


Handler = Callable[[dict[str, Any], threading.Event], dict[str, Any] | None]


def _noop(payload: dict[str, Any], cancelled: threading.Event) -> dict[str, Any]:
    return {"note": NoopRunPayload.model_validate(payload).note}


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
        self.done = threading.Event()
        self.status = StatusBoard(settings.state_dir / "status")
        self.exit_code = EXIT_DRAINED
        self._held: dict[int, TaskAssignment] = {}
        self._held_lock = threading.Lock()
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
                    self._held[task.id] = task
                self._tasks.submit(self._execute, task)
            self.status.set("poll", "ok", f"{len(result.tasks)} tasks received")

    def _heartbeat_loop(self) -> None:
        plane = self._plane
        assert plane is not None
        while not self.draining.is_set():
            try:
                extended = plane.heartbeat(self._heartbeat())
                self.status.set("heartbeat", "ok", f"{extended} leases extended")
            except Unavailable as exc:
                self.status.set("heartbeat", "failing", str(exc))
                log.warning("heartbeat failed: %s", exc)
            except Refused as exc:
                self.status.set("heartbeat", "refused", str(exc))
                log.warning("heartbeat refused: %s", exc)
            if self.draining.wait(self.settings.heartbeat_seconds):
                return

    def _metrics_loop(self) -> None:
        plane = self._plane
        assert plane is not None
        while not self.draining.wait(self.settings.metrics_seconds):
            with self._held_lock:
                held = len(self._held)
            measured = selfmetrics.measure(held, self.supervisor.reports(), self.load.pids())
            try:
                stored = sum(plane.metrics(batch) for batch in selfmetrics.to_batches(measured))
                self.status.set("metrics", "ok", f"{stored} samples stored")
            except (Unavailable, Refused) as exc:
                self.status.set("metrics", "failing", str(exc))
                log.warning("metrics not sent: %s", exc)
            gateway = self.settings.pushgateway_url
            if gateway:
                try:
                    selfmetrics.push(gateway, self.settings.hostname, measured)
                except OSError as exc:  # urllib's errors: unreachable, refused, HTTP errors
                    self.status.set("pushgateway", "failing", str(exc))
                    log.warning("push to %s failed: %s", gateway, exc)
                else:
                    self.status.set("pushgateway", "ok", f"{len(measured)} series pushed")

    # --- tasks ----------------------------------------------------------------------------

    def _execute(self, task: TaskAssignment) -> None:
        handler = self._handlers.get((task.type, task.action))
        try:
            if handler is None:
                self._report(task, TaskStatus.FAILED, error=(
                    f"phoenix-agent {phoenix_core.__version__} cannot run "
                    f"{task.type.value}/{task.action.value} tasks"
                ))  # fmt: skip
                return
            if not self._report(task, TaskStatus.RUNNING):
                return
            try:
                result = handler(task.payload, self.draining)
            except ValidationError as exc:
                self._report(task, TaskStatus.FAILED, error=f"bad payload: {exc}")
            except TaskFailed as exc:
                self._report(task, TaskStatus.FAILED, error=str(exc))
            else:
                self._report(task, TaskStatus.SUCCEEDED, result=result)
        except Fatal as exc:
            log.error("%s", exc)
            self.exit_code = EXIT_REFUSED
            self.draining.set()
        finally:
            with self._held_lock:
                self._held.pop(task.id, None)

    def _report(
        self,
        task: TaskAssignment,
        status: TaskStatus,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        """Report until the API takes it; False if it refused (the lease is lost)."""
        plane = self._plane
        assert plane is not None
        report = StatusReport(
            attempt=task.attempt, status=status, result=result, error_message=error
        )
        try:
            self._retry(f"report {task.id}", lambda: plane.report(task.id, report), always=True)
        except Refused as exc:
            log.warning("task %s: %s", task.id, exc)
            return False
        log.info("task %s %s/%s attempt %s: %s", task.id, task.type.value, task.action.value,
                 task.attempt, status.value)  # fmt: skip
        return True

    # --- helpers --------------------------------------------------------------------------

    def _retry(self, what: str, call: Callable[[], T], *, always: bool = False) -> T | None:
        """``call`` until it succeeds, backing off while the API is unavailable; None once
        draining (unless ``always``: a task's report is worth waiting for)."""

        def stop(state: RetryCallState) -> bool:
            return self.draining.is_set() and not always

        def note(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            self.status.set(what.split(maxsplit=1)[0], "retrying", f"in {wait:.1f} s: {exc}")
            log.warning("%s: %s; retrying in %.1f s", what, exc, wait)

        retrying = Retrying(
            retry=retry_if_exception_type(Unavailable),
            wait=_backoff(self.settings.max_backoff_seconds),
            stop=stop,
            sleep=self._sleep,
            before_sleep=note,
            reraise=True,
        )
        try:
            return retrying(call)
        except Unavailable:
            return None  # stopped by draining

    def _sleep(self, seconds: float) -> None:
        self.draining.wait(seconds)

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

    def _fetch_config(self, url: str) -> str:
        plane = self._plane
        assert plane is not None
        try:
            return plane.config(url)
        except (Unavailable, Refused) as exc:
            raise TaskFailed(f"cannot download the config: {exc}") from exc


def _backoff(cap: float) -> Callable[[RetryCallState], float]:
    """Capped exponential backoff with full jitter, never sooner than ``Retry-After``."""
    jitter = wait_random_exponential(multiplier=0.5, max=cap)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = exc.retry_after if isinstance(exc, Unavailable) else None
        base = float(jitter(state))
        return max(base, min(after, cap)) if after is not None else base

    return wait
