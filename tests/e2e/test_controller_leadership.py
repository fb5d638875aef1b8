"""Two real controller processes on one PostgreSQL database: only one acts; kill it (SIGKILL)
and the other takes over where it left off."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from phoenix_core.lifecycle import ExperimentState
from phoenix_core.queue import Report, Task, open_queue
from phoenix_core.spec import ExperimentSpec
from phoenix_core.store.database import make_engine
from phoenix_core.store.events import EventRepository
from phoenix_core.store.experiments import ExperimentRepository
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.session import Store
from phoenix_core.wire import Heartbeat, HostStatus, TaskStatus
from support.processes import controller_process

S = ExperimentState


def _until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_one_controller_acts_and_another_takes_over(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    store = Store(engine)
    queue = open_queue(engine)
    with store.session() as session:
        host = HostRepository(session).register("web-1", actor="test").id
        HostRepository(session).record_heartbeat(
            host, Heartbeat(agent_version="0.1.0", status=HostStatus.HEALTHY)
        )
        spec = ExperimentSpec.parse(
            {
                "name": "takeover",
                "hosts": ["web-1"],
                "sources": [{"name": "node", "kind": "node-exporter"}],
                "warmup_seconds": 2,
                "duration_seconds": 600,
                "variants": [
                    {"name": "baseline", "role": "baseline", "template": "baseline"},
                    {"name": "same", "role": "candidate", "template": "baseline"},
                ],
            }
        )
        experiment = ExperimentRepository(session).create(spec, actor="user:t").id
        ExperimentRepository(session).transition(experiment, S.SCHEDULED, actor="user:t")

    def state() -> ExperimentState:
        with store.session() as session:
            return ExperimentRepository(session).get(experiment).state

    def actors() -> list[str]:
        with store.session() as session:
            events = EventRepository(session).list(experiment_id=experiment)
        return [e.actor for e in events if e.actor.startswith("controller@")]

    env = {
        "PHOENIX_DATABASE_URL": postgres_url,
        "PHOENIX_CONTROLLER_INTERVAL_SECONDS": "0.2",
        "PHOENIX_CONTROLLER_HEARTBEAT_TIMEOUT_SECONDS": "3600",
    }
    try:
        with controller_process(env) as first, controller_process(env) as second:
            _until(lambda: state() is S.DEPLOYING, "deploying")
            leader = actors()[0]
            assert leader.endswith(f":{first.pid}") or leader.endswith(f":{second.pid}")
            standby = second if leader.endswith(f":{first.pid}") else first
            active = first if standby is second else second
            # the two collector starts succeed, as the host's agent would report
            started: list[Task] = []

            def claimed_both() -> bool:
                started.extend(queue.claim(host, limit=10))
                return len(started) == 2

            _until(claimed_both, "two start tasks")
            reports = [Report(t.id, t.attempt, TaskStatus.SUCCEEDED) for t in started]
            queue.report(host, reports).raise_for_refusal()
            _until(lambda: state() is S.WARMING_UP, "warming_up")
            assert set(actors()) == {leader}
            active.send_signal(signal.SIGKILL)
            active.wait(timeout=10)
            _until(lambda: state() is S.RUNNING, "running after the take-over")
            successor = actors()[-1]
            assert successor.endswith(f":{standby.pid}")
            assert set(actors()) == {leader, successor}
    finally:
        queue.close()
        engine.dispose()
