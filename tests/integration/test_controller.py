"""The controller drives experiments through their lifecycle on SQLite and PostgreSQL, with a
scripted agent in the test standing in for the hosts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
import yaml
from sqlalchemy import select

from phoenix_core.clock import utcnow
from phoenix_core.controller import Controller, ControllerSettings, StaticReference
from phoenix_core.controller.deployment import Deployer
from phoenix_core.errors import FieldError, ValidationFailed
from phoenix_core.lifecycle import ExperimentState, Verdict
from phoenix_core.metrics.reader import StaticReader
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.queue import QueueSettings, Report, Task, open_queue
from phoenix_core.spec import STORED, ExperimentSpec
from phoenix_core.store.database import make_engine
from phoenix_core.store.deployments import ActivePipelineRecord, DeploymentRepository
from phoenix_core.store.events import EventRecord, EventRepository
from phoenix_core.store.experiments import ExperimentRecord, ExperimentRepository
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tables import ActivePipelineRow, CollectorConfigRow, ExperimentHostRow
from phoenix_core.use_cases.analysis import Analyses
from phoenix_core.use_cases.experiments import Experiments
from phoenix_core.use_cases.usage import add_version
from phoenix_core.wire import (
    ActivePipelineReport,
    ActivePipelineStatus,
    Heartbeat,
    HostStatus,
    TaskAction,
    TaskStatus,
    TaskType,
)

S = ExperimentState
SETTINGS = ControllerSettings(
    deploy_timeout_seconds=60,
    heartbeat_timeout_seconds=30,
    offline_grace_seconds=20,
    min_host_share=0.5,
    port_range_start=21000,
    port_range_end=21099,
    analysis_settle_seconds=0,
)


@dataclass
class World:
    store: Store
    controller: Controller
    experiments: Experiments
    reference: StaticReference
    hosts: dict[str, uuid.UUID]
    alive: set[str]
    running: dict[str, list[ActivePipelineReport]] = field(default_factory=dict)
    """What each host's agent lists in its heartbeats (the last ``heartbeat()`` said)."""

    def create(self, **overrides: Any) -> uuid.UUID:
        data: dict[str, Any] = {
            "name": "top-k vs adaptive",
            "hosts": ["web-1", "web-2"],
            "variants": [
                {"name": "baseline", "role": "baseline", "template": "baseline"},
                {"name": "topk", "role": "candidate", "template": "top-k", "variables": {"k": 1}},
                {"name": "drop", "role": "candidate", "template": "adaptive-filter"},
            ],
            "load_profile": {"name": "high-cardinality", "parameters": {"series": 100}},
            "warmup_seconds": 30,
            "duration_seconds": 120,
            "critical_selectors": ['{process="kubelet"}'],
        }
        data.update(overrides)
        with self.store.session() as session:
            return (
                ExperimentRepository(session).create(ExperimentSpec.parse(data), actor="user:t").id
            )

    def get(self, experiment_id: uuid.UUID) -> ExperimentRecord:
        with self.store.session() as session:
            return ExperimentRepository(session).get(experiment_id)

    def tick(self, seconds: float = 0) -> None:
        """A controller pass ``seconds`` from now; the live hosts' agents beat just before."""
        now = utcnow() + timedelta(seconds=seconds)
        with self.store.session() as session:
            for host in self.alive:
                HostRepository(session).record_heartbeat(
                    self.hosts[host],
                    Heartbeat(
                        agent_version="0.1.0",
                        status=HostStatus.HEALTHY,
                        active_pipelines=self.running.get(host, []),
                    ),
                    at=now,
                )
        self.controller.reconcile_once(now=now)

    def heartbeat(self, host: str, **kw: Any) -> None:
        self.running[host] = kw.get("active_pipelines", [])
        with self.store.session() as session:
            HostRepository(session).record_heartbeat(
                self.hosts[host], Heartbeat(agent_version="0.1.0", status=HostStatus.HEALTHY, **kw)
            )

    def agent(
        self, host: str, status: TaskStatus = TaskStatus.SUCCEEDED, error: str | None = None
    ) -> list[Task]:
        """What an agent on ``host`` does: claim everything, report ``status`` for each."""
        queue = self.controller.queue
        tasks = queue.claim(self.hosts[host], limit=100)
        if tasks:
            reports = [Report(t.id, t.attempt, status, error_message=error) for t in tasks]
            queue.report(self.hosts[host], reports).raise_for_refusal()
        return tasks


NO_LOAD: dict[str, Any] = {
    "load_profile": None,
    "sources": [{"name": "node", "kind": "node-exporter"}],  # a loadsim source needs a load
}


def _reference(host: str, address: str = "127.0.0.1:21000") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "__name__": ["process_cpu_seconds_total"] * 3,
            "process": ["kubelet", "nginx", "cron"],
            "job": ["loadsim"] * 3,
            "instance": [address] * 3,
            "__value__": [1.0, 5.0, 0.001],
        }
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    url = request.getfixturevalue(
        "postgres_url" if request.param == "postgresql" else "migrated_sqlite_url"
    )
    engine = make_engine(url)
    store = Store(engine)
    with store.session() as session:
        hosts = {
            name: HostRepository(session).register(name, labels={"env": "test"}, actor="test").id
            for name in ("web-1", "web-2", "web-3")
        }
    queue = open_queue(engine, QueueSettings(backoff_base_seconds=0.01, backoff_cap_seconds=0.01))
    reference = StaticReference()
    # no Prometheus here: every query answers "no series" (the e2e tests read real ones)
    analyses = Analyses(
        store, reader=lambda: StaticReader(lambda query: []), scrape_interval_seconds=15
    )
    controller = Controller(
        store, queue, SETTINGS, reference, TemplateLibrary.builtin(), analyses, instance="t"
    )
    experiments = Experiments(store, controller.deployer, reference)
    w = World(store, controller, experiments, reference, hosts, alive=set(hosts))
    for host in hosts:
        w.heartbeat(host)
    yield w
    queue.close()
    engine.dispose()


@pytest.fixture
def migrated_sqlite_url(empty_sqlite_url: str) -> str:
    from phoenix_core.store.migrate import upgrade

    engine = make_engine(empty_sqlite_url)
    upgrade(engine)
    engine.dispose()
    return empty_sqlite_url


def _no_reader() -> StaticReader:
    raise AssertionError("the guardrail's report reads the stored analysis, not Prometheus")


def _states(w: World, experiment_id: uuid.UUID) -> list[tuple[str, str]]:
    with w.store.session() as session:
        events = EventRepository(session).list(experiment_id=experiment_id)
    return [(e.data["to"], e.actor) for e in events if e.type == "experiment_state_changed"]


def test_an_experiment_runs_itself_to_completed(w: World) -> None:
    with w.store.session() as session:
        add_version(session, "runbook", "queries", "sum(up)\nrate(x[5m])\n", actor="user:t")
    experiment = w.create(usage_sources=["runbook"])
    w.experiments.start(experiment, actor="user:t")
    w.tick()
    assert w.get(experiment).state is S.DEPLOYING
    w.tick()
    # the baseline and the load start at once; the candidates wait for the baseline's values
    first = {h: w.agent(h) for h in ("web-1", "web-2")}
    started = {(t.type.value, t.payload.get("variant")) for tasks in first.values() for t in tasks}
    assert started == {("loadsim", None), ("collector", "baseline")}
    assert w.get(experiment).state is S.DEPLOYING
    for host in ("web-1", "web-2"):
        w.reference.inventories[("baseline", host)] = _reference(host)
    w.tick()
    w.tick()
    second = [t for h in ("web-1", "web-2") for t in w.agent(h)]
    # top-k and the adaptive filter (a drop-list, on prometheus-agent) start with the values
    assert sorted(t.payload["variant"] for t in second) == ["drop", "drop", "topk", "topk"]
    w.tick()
    assert w.get(experiment).state is S.WARMING_UP
    w.tick(seconds=31)
    assert w.get(experiment).state is S.RUNNING
    w.tick(seconds=31 + 121)
    assert w.get(experiment).state is S.ANALYZING
    w.tick(seconds=31 + 122)
    record = w.get(experiment)
    assert record.state is S.COMPLETED
    # judged on what was measured (nothing here): inconclusive, saying so, never a made-up pass
    assert record.verdict is Verdict.INCONCLUSIVE
    assert record.verdict_reasons[0] == "no candidate passes, and not every one fails"
    assert any(
        "active_series: no data from the baseline or the candidate" in reason
        for reason in record.verdict_reasons
    )
    # the guardrail compared nothing (no series anywhere), and still lists every query
    report = Analyses(w.store, reader=_no_reader, scrape_interval_seconds=15).guardrail(experiment)
    assert [c.candidate for c in report.candidates] == ["topk", "drop"]
    for candidate in report.candidates:
        assert candidate.queries_preserved is None
        assert [(q.query, q.outcome) for q in candidate.queries] == [
            ("sum(up)", "no_data"),
            ("rate(x[5m])", "no_data"),
        ]
        assert candidate.counts["no_data"] == 2 and candidate.lost == []
    # stops were issued for every collector and the load on both hosts
    stops = [t for h in ("web-1", "web-2") for t in w.agent(h)]
    assert sorted((t.type.value, t.payload.get("variant")) for t in stops) == sorted(
        [("collector", v) for v in ("baseline", "topk", "drop")] * 2 + [("loadsim", None)] * 2
    )
    w.tick()
    with w.store.session() as session:
        assert not session.scalars(select(ExperimentHostRow).where(ExperimentHostRow.active)).all()
    assert [s for s, _ in _states(w, experiment)] == [
        "scheduled",
        "deploying",
        "warming_up",
        "running",
        "analyzing",
        "completed",
    ]
    assert {actor for state, actor in _states(w, experiment) if state != "scheduled"} == {
        "controller@t"
    }


def test_each_variant_gets_its_own_ports_labels_and_stored_config(w: World) -> None:
    experiment = w.create(
        variants=[
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {
                "name": "drop",
                "role": "candidate",
                "template": "drop-labels",
                "variables": {"labels": ["pid"]},
            },
            {"name": "keep", "role": "candidate", "template": "baseline"},
        ]
    )
    for host in ("web-1", "web-2"):
        w.reference.inventories[("baseline", host)] = _reference(host)
    w.experiments.start(experiment, actor="user:t")
    w.tick()
    w.tick()
    with w.store.session() as session:
        rows = session.scalars(
            select(ActivePipelineRow).where(ActivePipelineRow.experiment_id == experiment)
        ).all()
        loadsim = {r.host_id: r.loadsim_port for r in session.scalars(select(ExperimentHostRow))}
        configs = {r.sha256: r.content for r in session.scalars(select(CollectorConfigRow))}
    assert len(rows) == 6
    for host_id in {r.host_id for r in rows}:
        ports = [p for r in rows if r.host_id == host_id for p in r.ports.values()]
        ports.append(loadsim[host_id])
        assert len(ports) == len(set(ports)) == 4
    for row in rows:
        config = yaml.safe_load(configs[row.config_sha256])
        assert config["global"]["external_labels"] == {
            "phoenix_experiment_id": str(experiment),
            "phoenix_variant": row.variant,
            "phoenix_host": {v: k for k, v in w.hosts.items()}[row.host_id],
        }
        loadsim_job = config["scrape_configs"][0]
        assert loadsim_job["static_configs"] == [{"targets": [f"127.0.0.1:{loadsim[row.host_id]}"]}]


def test_two_experiments_never_share_a_host(w: World) -> None:
    first = w.create(
        hosts=["web-1"],
        variants=[
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {"name": "b", "role": "candidate", "template": "baseline"},
        ],
        **NO_LOAD,
    )
    second = w.create(
        hosts=["web-1", "web-2"],
        variants=[
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {"name": "b", "role": "candidate", "template": "baseline"},
        ],
        **NO_LOAD,
    )
    w.experiments.start(first, actor="user:t")
    w.experiments.start(second, actor="user:t")
    w.tick()
    w.tick()  # the first one's collectors are placed and their starts enqueued
    assert (w.get(first).state, w.get(second).state) == (S.DEPLOYING, S.SCHEDULED)
    w.agent("web-1")
    w.experiments.stop(first, actor="user:t")
    w.tick()
    w.tick()
    assert w.get(second).state is S.SCHEDULED  # stop tasks still outstanding: host still taken
    for host in ("web-1", "web-2"):
        w.agent(host)
    w.tick()
    assert w.get(first).state is S.STOPPED
    w.tick()
    assert w.get(second).state is S.DEPLOYING


def test_deploy_timeout_fails_with_the_reason(w: World) -> None:
    experiment = w.create()
    w.experiments.start(experiment, actor="user:t")
    w.tick()
    w.tick()  # deploying: the candidates wait for the baseline's series
    w.tick()  # and still do, for the same reason
    w.tick(seconds=61)
    record = w.get(experiment)
    assert record.state is S.FAILED
    assert record.failure_reason is not None
    assert record.failure_reason.startswith(
        "deploy timed out after 60 s waiting for: topk on web-1 (no series for the baseline "
        "on host web-1 yet)"
    )
    with w.store.session() as session:
        events = EventRepository(session).list(experiment_id=experiment)
    waiting = {(e.data["variant"], e.data["host"]) for e in events if e.type == "deploy_waiting"}
    assert waiting == {(v, h) for v in ("topk", "drop") for h in ("web-1", "web-2")}
    assert all(
        e.data["waiting_for"] == f"no series for the baseline on host {e.data['host']} yet"
        for e in events
        if e.type == "deploy_waiting"
    )  # once each: the same reason on the next pass writes no second event
    assert len([e for e in events if e.type == "deploy_waiting"]) == 4


def test_a_deploy_fails_once_prometheus_has_not_answered_for_the_outage_setting(
    w: World,
) -> None:
    """An outage shorter than ``metrics_outage_seconds`` (30) is waited out; a longer one
    fails the deploy naming Prometheus and the error, long before the deploy timeout (60)."""
    first, second = w.create(), w.create(hosts=["web-3"])
    w.experiments.start(first, actor="user:t")
    w.experiments.start(second, actor="user:t")
    w.tick()
    w.reference.unavailable = "Cannot reach Prometheus at http://p:9090: connection refused."
    w.tick()
    w.tick(seconds=29)
    assert w.get(first).state is S.DEPLOYING
    w.reference.unavailable = ""  # back (a restart)
    w.tick(seconds=30)
    assert w.get(first).state is S.DEPLOYING
    w.reference.unavailable = "Cannot reach Prometheus at http://p:9090: connection refused."
    w.tick(seconds=31)
    w.tick(seconds=45)
    assert w.get(first).state is S.DEPLOYING  # down for 14 s only: counted from its start
    w.tick(seconds=61)
    for experiment in (first, second):
        record = w.get(experiment)
        assert record.state is S.FAILED
        assert re.fullmatch(
            re.escape(
                f"the Prometheus at {SETTINGS.prometheus_url} (PHOENIX_CONTROLLER_PROMETHEUS_URL) "
                "has not answered for 30 s, since "
            )
            + r"\d\d:\d\d:\d\d UTC"
            + re.escape(
                "; keep-lists and the verdict read it: Cannot reach Prometheus at "
                "http://p:9090: connection refused."
            ),
            record.failure_reason or "",
        ), record.failure_reason


def test_a_failed_start_fails_the_experiment_and_stops_the_rest(w: World) -> None:
    experiment = w.create(**NO_LOAD)
    w.experiments.start(experiment, actor="user:t")
    w.tick()
    w.tick()
    w.agent("web-1", TaskStatus.FAILED, error="config rejected: unknown field 'scrape_intervall'")
    w.tick()
    record = w.get(experiment)
    assert record.state is S.FAILED
    assert record.failure_reason == (
        "task collector/start of variant baseline failed: config rejected: unknown field "
        "'scrape_intervall'"
    )
    pending = [t for t in w.controller.queue.tasks_of(experiment) if t.status is TaskStatus.PENDING]
    assert {t.action for t in pending} == {TaskAction.STOP}


def test_a_stopped_experiment_ends_stopped_even_if_a_start_failed(w: World) -> None:
    experiment = w.create(**NO_LOAD, hosts=["web-1"])
    w.experiments.start(experiment, actor="user:t")
    w.tick()
    w.tick()
    queue = w.controller.queue
    claimed = queue.claim(w.hosts["web-1"], limit=10)
    w.experiments.stop(experiment, actor="user:t")
    queue.report(
        w.hosts["web-1"],
        [Report(t.id, t.attempt, TaskStatus.FAILED, error_message="boom") for t in claimed],
    ).raise_for_refusal()
    w.tick()
    w.agent("web-1")  # the stops
    w.tick()
    record = w.get(experiment)
    assert record.state is S.STOPPED
    assert record.failure_reason is None


def test_a_dead_task_fails_the_experiment(w: World) -> None:
    experiment = w.create(**NO_LOAD, hosts=["web-3"])
    w.experiments.start(experiment, actor="user:t")
    w.tick()
    w.tick()
    queue = w.controller.queue
    at = utcnow()
    for _ in range(SETTINGS.task_max_attempts):  # the agent claims, then dies, every time
        assert queue.claim(w.hosts["web-3"], limit=10, lease_seconds=1, at=at)
        at += timedelta(seconds=5)
        queue.reap(at=at)
        at += timedelta(seconds=1)
    w.tick()
    reason = w.get(experiment).failure_reason or ""
    assert reason.startswith("task collector/start of variant baseline is dead after 5 attempts")


def _deployed_on_web_1(w: World) -> tuple[uuid.UUID, list[Task]]:
    """A started experiment of two variants on web-1, and the tasks its agent ran."""
    experiment = w.create(
        **NO_LOAD,
        hosts=["web-1"],
        variants=[
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {"name": "b", "role": "candidate", "template": "baseline"},
        ],
    )
    w.experiments.start(experiment, actor="user:t")
    w.tick()
    w.tick()
    return experiment, w.agent("web-1")


def test_a_crash_looping_collector_fails_the_experiment(w: World) -> None:
    experiment, tasks = _deployed_on_web_1(w)
    w.tick()
    assert w.get(experiment).state is S.WARMING_UP
    start = next(t for t in tasks if t.payload["variant"] == "b")
    w.heartbeat(
        "web-1",
        active_pipelines=[
            ActivePipelineReport(
                experiment_id=experiment,
                variant="b",
                config_sha256=start.payload["config_sha256"],
                status=ActivePipelineStatus.CRASH_LOOPING,
                restarts=6,
            )
        ],
    )
    w.tick()
    record = w.get(experiment)
    assert record.state is S.FAILED
    assert (
        record.failure_reason
        == "the collector of variant b on host web-1 is crash-looping (6 restarts)"
    )


def test_the_fleet_s_collectors_are_those_of_experiments_holding_hosts(w: World) -> None:
    """``GET /api/v1/collectors``: each collector with its host, experiment and variant, and
    the status and restarts its agent last reported; gone once the experiment ended."""
    experiment, tasks = _deployed_on_web_1(w)
    start = next(t for t in tasks if t.payload["variant"] == "b")
    report = ActivePipelineReport(
        experiment_id=experiment,
        variant="b",
        config_sha256=start.payload["config_sha256"],
        status=ActivePipelineStatus.CRASH_LOOPING,
        restarts=6,
    )
    w.heartbeat("web-1", active_pipelines=[report])
    with w.store.session() as session:
        placed = DeploymentRepository(session).placed_collectors()
    assert [(c.hostname, c.variant, c.status.value, c.restarts) for c in placed] == [
        ("web-1", "b", "crash_looping", 6),
        ("web-1", "baseline", "starting", 0),  # placed, not yet reported by its agent
    ]
    assert {c.experiment_id for c in placed} == {experiment}
    assert {c.experiment_name for c in placed} == {"top-k vs adaptive"}
    w.tick()  # the crash loop fails the experiment: it holds no host any more
    with w.store.session() as session:
        assert DeploymentRepository(session).placed_collectors() == []


def test_a_collector_its_agent_stops_listing_fails_the_experiment(w: World) -> None:
    """An agent's heartbeats are the truth about what runs: a collector it reported and then
    no longer lists (its container restarted, say) is `gone` while the experiment collects,
    and the experiment fails saying so; after a stop, an unlisted one is just `stopped`."""
    experiment, tasks = _deployed_on_web_1(w)
    starts = {t.payload["variant"]: t for t in tasks}
    reports = {
        variant: ActivePipelineReport(
            experiment_id=experiment,
            variant=variant,
            config_sha256=task.payload["config_sha256"],
            status=ActivePipelineStatus.RUNNING,
        )
        for variant, task in starts.items()
        if task.type is TaskType.COLLECTOR
    }
    w.heartbeat("web-1", active_pipelines=list(reports.values()))
    w.tick()
    assert w.get(experiment).state is S.WARMING_UP
    w.heartbeat("web-1", active_pipelines=[reports["baseline"]])
    w.tick()
    record = w.get(experiment)
    assert record.state is S.FAILED
    assert record.failure_reason == (
        "the collector of variant b on host web-1 no longer runs (its agent's heartbeats "
        "stopped listing it)"
    )
    w.agent("web-1")  # the stop tasks run; the agent lists nothing any more
    w.heartbeat("web-1", active_pipelines=[])
    with w.store.session() as session:
        statuses = dict(
            session.execute(
                select(ActivePipelineRow.variant, ActivePipelineRow.status).where(
                    ActivePipelineRow.experiment_id == experiment
                )
            ).all()
        )
    assert statuses == {"baseline": "stopped", "b": "gone"}


def test_hosts_offline_past_the_grace_period_fail_the_experiment(w: World) -> None:
    experiment = w.create(
        **NO_LOAD,
        variants=[
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {"name": "b", "role": "candidate", "template": "baseline"},
        ],
        hosts=["web-1", "web-2", "web-3"],
    )
    w.experiments.start(experiment, actor="user:t")
    w.tick()
    w.tick()
    for host in ("web-1", "web-2", "web-3"):
        w.agent(host)
    w.tick()
    assert w.get(experiment).state is S.WARMING_UP
    w.alive = {"web-1"}  # two hosts stop sending heartbeats
    w.tick(seconds=31)  # offline now, but within the grace period
    assert w.get(experiment).state in (S.WARMING_UP, S.RUNNING)
    w.tick(seconds=60)
    record = w.get(experiment)
    assert record.state is S.FAILED
    assert record.failure_reason == "only 1 of 3 hosts are online (the minimum is 50%)"


def _top_k_warming_up(w: World, **overrides: Any) -> uuid.UUID:
    """A baseline and a top-1 candidate on web-1, deployed from the reference: warming up."""
    experiment = w.create(
        **NO_LOAD,
        hosts=["web-1"],
        variants=[
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {"name": "topk", "role": "candidate", "template": "top-k", "variables": {"k": 1}},
        ],
        **overrides,
    )
    w.reference.inventories[("baseline", "web-1")] = _reference("web-1")
    w.experiments.start(experiment, actor="user:t")
    w.tick()
    w.tick()
    w.agent("web-1")
    w.tick()
    w.agent("web-1")
    w.tick()
    assert w.get(experiment).state is S.WARMING_UP
    return experiment


def test_keep_lists_refresh_with_a_reload(w: World) -> None:
    experiment = _top_k_warming_up(w)
    started = _pipeline(w, experiment, "topk")
    w.tick(seconds=61)  # due, but the values did not change: no reload
    assert not _reloads(w, experiment)
    assert _pipeline(w, experiment, "topk").rendered_at > started.rendered_at  # type: ignore[operator]
    assert not _refreshed(w, experiment)
    changed = _reference("web-1").assign(__value__=[1.0, 0.5, 9.0])  # cron is busiest now
    w.reference.inventories[("baseline", "web-1")] = changed
    w.tick(seconds=122)
    reloads = _reloads(w, experiment)
    assert len(reloads) == 1
    with w.store.session() as session:
        content = session.get(CollectorConfigRow, reloads[0].payload["config_sha256"]).content  # type: ignore[union-attr]
    assert "regex: cron" in content
    (event,) = _refreshed(w, experiment)
    assert event.data == {
        "variant": "topk",
        "host": "web-1",
        "previous_config_sha256": started.config_sha256,
        "config_sha256": reloads[0].payload["config_sha256"],
    }


def test_a_keep_list_that_changes_back_is_reloaded_each_time_one_reload_at_a_time(
    w: World,
) -> None:
    """Busiest process nginx, cron, nginx, cron: three reloads, in that order, each sent once
    the one before succeeded (the config an agent ends on is the last one)."""
    experiment = _top_k_warming_up(w, warmup_seconds=3600)
    first = _pipeline(w, experiment, "topk").config_sha256
    cron = _reference("web-1").assign(__value__=[1.0, 0.5, 9.0])
    nginx = _reference("web-1")
    w.reference.inventories[("baseline", "web-1")] = cron
    w.tick(seconds=61)
    second = _pipeline(w, experiment, "topk").config_sha256
    assert [t.payload["config_sha256"] for t in _reloads(w, experiment)] == [second]
    w.reference.inventories[("baseline", "web-1")] = nginx
    w.tick(seconds=122)  # recorded, but the reload to cron has not run yet: nothing sent
    assert _pipeline(w, experiment, "topk").config_sha256 == first
    assert len(_reloads(w, experiment)) == 1
    w.agent("web-1")
    w.tick(seconds=123)  # now it has: the reload back to the first config
    w.agent("web-1")
    w.reference.inventories[("baseline", "web-1")] = cron
    w.tick(seconds=183)
    reloads = _reloads(w, experiment)
    assert [t.payload["config_sha256"] for t in reloads] == [second, first, second]
    assert len({t.idempotency_key for t in reloads}) == 3
    assert [e.data["config_sha256"] for e in _refreshed(w, experiment)] == [second, first, second]


def test_a_refresh_the_collector_refuses_fails_the_experiment(w: World) -> None:
    """The baseline no longer has the metric top-k ranks by: the experiment fails at once,
    saying so, and its collectors are stopped."""
    experiment = _top_k_warming_up(w)
    gone = _reference("web-1").assign(__name__="process_open_fds")
    w.reference.inventories[("baseline", "web-1")] = gone
    w.tick(seconds=61)
    record = w.get(experiment)
    assert record.state is S.FAILED
    assert record.failure_reason is not None
    assert record.failure_reason.startswith(
        "a refresh of its keep-lists was refused: variant topk on host web-1: Invalid input: "
        "steps.1: top_k cannot run on prometheus-agent: it ranks by process_cpu_seconds_total, "
        "which the baseline's complete series do not have"
    ), record.failure_reason
    stops = [t for t in w.controller.queue.tasks_of(experiment) if t.action is TaskAction.STOP]
    assert {t.payload["variant"] for t in stops} == {"baseline", "topk"}


def _pipeline(w: World, experiment: uuid.UUID, variant: str) -> ActivePipelineRecord:
    with w.store.session() as session:
        placed = DeploymentRepository(session).pipeline(experiment, w.hosts["web-1"], variant)
    assert placed is not None
    return placed


def _reloads(w: World, experiment: uuid.UUID) -> list[Task]:
    return [t for t in w.controller.queue.tasks_of(experiment) if t.action is TaskAction.RELOAD]


def _refreshed(w: World, experiment: uuid.UUID) -> list[EventRecord]:
    with w.store.session() as session:
        events = EventRepository(session).list(experiment_id=experiment)
    return [e for e in events if e.type == "config_refreshed"]


def test_the_measurement_window_starts_once_every_variant_s_final_config_took_effect(
    w: World,
) -> None:
    """Warm-up excluded, and a keep-list reloaded during the run moves the window's start to
    when the reload took effect; the window is stored with the experiment."""
    experiment = _top_k_warming_up(w, duration_seconds=600)
    w.tick(seconds=31)
    running = w.get(experiment)
    assert running.state is S.RUNNING
    changed = _reference("web-1").assign(__value__=[1.0, 0.5, 9.0])  # cron is busiest now
    w.reference.inventories[("baseline", "web-1")] = changed
    w.tick(seconds=31 + 61)
    (reload,) = [t for t in w.agent("web-1") if t.action is TaskAction.RELOAD]
    w.tick(seconds=31 + 601)
    record = w.get(experiment)
    assert record.state is S.ANALYZING
    window = record.measurement_window
    assert window is not None
    reloaded_at = w.controller.queue.get(reload.id).completed_at
    assert reloaded_at is not None and reloaded_at > running.state_changed_at
    assert window.start == window.config_applied_at["topk"] == reloaded_at
    assert window.config_applied_at["baseline"] < window.start
    assert window.reloads == {"baseline": 0, "topk": 1}
    assert window.end > window.start


def test_the_baseline_is_read_once_per_host_per_pass(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two candidates waiting on two hosts: two reads of the baseline a pass, not four."""
    asked: list[str] = []
    latest = w.reference.latest

    def counted(experiment_id: uuid.UUID, variant: str, host: str, jobs: Any) -> Any:
        asked.append(host)
        return latest(experiment_id, variant, host, jobs)

    monkeypatch.setattr(w.reference, "latest", counted)
    experiment = w.create()  # top-k and the adaptive filter both need the baseline's values
    w.experiments.start(experiment, actor="user:t")
    w.tick()
    w.tick()
    assert sorted(asked) == ["web-1", "web-2"]
    w.tick()
    assert sorted(asked) == ["web-1", "web-1", "web-2", "web-2"]


def test_unknown_hosts_are_refused_at_start(w: World) -> None:
    experiment = w.create(hosts=["web-1", "nope"])
    with pytest.raises(ValidationFailed) as caught:
        w.experiments.start(experiment, actor="user:t")
    assert [e.path for e in caught.value.errors] == ["hosts.1"]
    assert w.get(experiment).state is S.DRAFT


def test_a_variant_the_collector_refuses_is_refused_at_start(w: World) -> None:
    experiment = w.create(
        variants=[
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {"name": "agg", "role": "candidate", "template": "aggregate"},
        ]
    )
    with pytest.raises(
        ValidationFailed, match=r"variants\.1\.steps\.1: aggregate cannot run on prometheus-agent"
    ):
        w.experiments.start(experiment, actor="user:t")


def test_a_dry_run_renders_from_the_baseline_s_inventory_once_known(w: World) -> None:
    """A drop of pid merges the reference's series (each process twice; kubelet is critical,
    kept apart): unknown at start, refused by a dry run once the baseline's inventory is known,
    naming the variant and the step."""
    experiment = w.create(
        hosts=["web-1"],
        variants=[
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {"name": "no-pid", "role": "candidate", "template": "drop-labels"},
        ],
    )
    w.experiments.start(experiment, actor="user:t")
    assert w.experiments.dry_run(experiment)  # no inventory yet: nothing to refuse
    twice = pd.concat([_reference("web-1").assign(pid="1"), _reference("web-1").assign(pid="2")])
    w.reference.inventories[("baseline", "web-1")] = twice
    with pytest.raises(
        ValidationFailed,
        match=r"variants\.1\.steps\.1: drop_labels cannot run on prometheus-agent: the reference "
        r"inventory shows 2 series would collide once pid are removed",
    ):
        w.experiments.dry_run(experiment)


def test_a_stored_loadsim_source_without_a_load_is_refused_never_dropped() -> None:
    """A spec stored before a loadsim source needed a load (read back as it was): rendering it,
    as the controller does for a running experiment, names load_profile instead of leaving
    the source out."""
    data = {
        "name": "from before",
        "hosts": ["web-1"],
        "variants": [
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {"name": "b", "role": "candidate", "template": "baseline"},
        ],
    }
    spec = ExperimentSpec.model_validate(data, context=STORED)
    deployer = Deployer(ControllerSettings(), TemplateLibrary.builtin())
    with pytest.raises(ValidationFailed) as caught:
        deployer.targets(spec, loadsim_port=None)
    [error] = caught.value.errors
    assert error.loc == ("load_profile",)
    assert error.message.startswith("source 'loadsim' (sources.0; the default sources are")


def test_a_dry_run_forecasts_from_the_baseline_s_measured_series_once_known(w: World) -> None:
    """Before the baseline's inventory is known, the forecast is the load's (100 processes x
    4 metrics, the same on every host); once it is known on web-1, web-1's forecast is from
    those series, and web-2 keeps the load's."""
    experiment = w.create(
        hosts=["web-1", "web-2"],
        variants=[
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {"name": "topk", "role": "candidate", "template": "top-k", "variables": {"k": 1}},
        ],
    )
    w.experiments.start(experiment, actor="user:t")
    load = {("baseline", None): (400, 400), ("topk", None): (400, 4)}  # the busiest process
    before = w.experiments.dry_run(experiment)
    assert {(f.variant, f.host): (f.series_in, f.series_out) for f in before.forecast} == load
    w.reference.inventories[("baseline", "web-1")] = _reference("web-1")
    after = w.experiments.dry_run(experiment)
    # web-1: nginx is the busiest process; kubelet is critical (protected)
    measured = {("baseline", "web-1"): (3, 3), ("topk", "web-1"): (3, 2)}
    assert {(f.variant, f.host): (f.series_in, f.series_out) for f in after.forecast} == (
        measured | load
    )
    based_on = {f.host: f.based_on for f in after.forecast}
    assert based_on["web-1"] == (
        "the baseline's complete series on host web-1 at the receiver: 3 series of loadsim"
    )
    assert based_on[None].endswith(
        "= 400 series, on each of web-2 (no measured series there yet); not forecast: node "
        "(node-exporter), whose series are known once the baseline runs"
    )


@pytest.fixture
def w(world: World) -> World:
    return world


def test_retention_deletes_old_tasks_and_metric_samples(w: World) -> None:
    from phoenix_core.queue import NewTask
    from phoenix_core.store.tables import MetricsCacheRow

    queue = w.controller.queue
    host = w.hosts["web-1"]
    queue.enqueue([NewTask(host, TaskType.NOOP, TaskAction.RUN, {"note": "old"})])
    claimed = queue.claim(host)
    queue.report(host, [Report(t.id, t.attempt, TaskStatus.SUCCEEDED) for t in claimed])
    with w.store.session() as session:
        for days in (1, 30, -10):  # taken 16, 45 and 5 days before the pass below
            session.add(
                MetricsCacheRow(
                    host_id=host,
                    metric_name="m",
                    value=1.0,
                    labels={},
                    timestamp=utcnow() - timedelta(days=days),
                )
            )
    w.controller.reconcile_once(now=utcnow() + timedelta(days=15))
    with w.store.session() as session:
        left = session.scalars(select(MetricsCacheRow.timestamp)).all()
    assert len(left) == 1  # only the one younger than the 7-day retention
    assert queue.stats().depth[TaskStatus.SUCCEEDED] == 0


class _FailingAnalyzer:
    """Raises ``error`` on every call (a unit test of the controller around the analyzer)."""

    def __init__(self, error: Exception) -> None:
        self.error, self.calls = error, 0

    def analyze(self, experiment: ExperimentRecord) -> Any:
        self.calls += 1
        raise self.error


def _to_analyzing(w: World) -> uuid.UUID:
    experiment = w.create()
    w.experiments.start(experiment, actor="user:t")
    w.tick()
    w.tick()
    for host in ("web-1", "web-2"):
        w.agent(host)
        w.reference.inventories[("baseline", host)] = _reference(host)
    w.tick()
    w.tick()
    for host in ("web-1", "web-2"):
        w.agent(host)
    w.tick()
    w.tick(seconds=31)
    w.tick(seconds=31 + 121)
    assert w.get(experiment).state is S.ANALYZING
    return experiment


def test_unreadable_measurements_are_retried_then_reported(w: World) -> None:
    from phoenix_core.metrics.reader import MetricsUnavailable

    failing = _FailingAnalyzer(MetricsUnavailable("Prometheus at http://x: connection refused"))
    w.controller.analyzer = failing
    experiment = _to_analyzing(w)
    w.tick(seconds=31 + 122)
    w.tick(seconds=31 + 130)
    assert w.get(experiment).state is S.ANALYZING and failing.calls == 2  # tried again
    w.tick(seconds=31 + 121 + SETTINGS.analysis_timeout_seconds + 1)
    record = w.get(experiment)
    assert record.state is S.COMPLETED and record.verdict is Verdict.INCONCLUSIVE
    assert record.verdict_reasons == [
        f"the measurements could not be read within {SETTINGS.analysis_timeout_seconds:g} s:"
        " Prometheus at http://x: connection refused"
    ]


def test_an_analysis_that_cannot_succeed_completes_at_once_with_the_reason(w: World) -> None:
    reason = "window_end: the window (6 s) is shorter than its points' lookback (8 s)"
    w.controller.analyzer = _FailingAnalyzer(
        ValidationFailed([FieldError(("window_end",), reason.split(": ", 1)[1])])
    )
    experiment = _to_analyzing(w)
    w.tick(seconds=31 + 122)
    record = w.get(experiment)
    assert record.state is S.COMPLETED and record.verdict is Verdict.INCONCLUSIVE
    assert record.verdict_reasons[0].startswith("the experiment could not be analysed:")
    assert "shorter than its points' lookback" in record.verdict_reasons[0]


def test_a_candidate_ranking_by_a_metric_the_baseline_lacks_fails_at_once(w: World) -> None:
    variants = [
        {"name": "baseline", "role": "baseline", "template": "baseline"},
        {
            "name": "topk",
            "role": "candidate",
            "template": "top-k",
            "variables": {"k": 1, "metric": "http_requests_total"},
        },
    ]
    experiment = w.create(variants=variants)
    w.experiments.start(experiment, actor="user:t")
    w.tick()
    w.tick()
    for host in ("web-1", "web-2"):
        w.agent(host)
        w.reference.inventories[("baseline", host)] = _reference(host)
    w.tick()  # the baseline's complete inventory is known: the refusal is too, no timeout
    record = w.get(experiment)
    assert record.state is S.FAILED
    assert record.failure_reason is not None
    assert "variant topk on host web-1" in record.failure_reason
    assert "it ranks by http_requests_total, which the baseline's complete series do not have" in (
        record.failure_reason
    )
    assert "process_cpu_seconds_total" in record.failure_reason
