"""The agent runs real collectors for a real experiment: ``phoenix api serve`` (PostgreSQL,
controller in it) deploys two ``prometheus-agent`` variants to ``phoenix-agent run``; both
scrape a fixed exporter and remote-write to a real Prometheus, where each variant's series
equal the exporter's, label for label. A ``kill -9`` of a collector is restarted; repeated
quick deaths make it ``crash_looping`` and fail the experiment; a stop leaves nothing running."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
import psutil
import pytest
from sqlalchemy import text

import phoenix_core
from support.processes import api_server
from support.world import World, until

SERIES = pd.DataFrame(
    {
        "__name__": ["phx_demo_requests_total"] * 6 + ["phx_demo_queue_depth"] * 2,
        "route": ["/a", "/b", "/c", "/a", "/b", "/c", "", ""],
        "code": ["200", "200", "200", "500", "500", "500", "", ""],
        "queue": ["", "", "", "", "", "", "in", "out"],
        "__value__": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
    }
)


@pytest.fixture
def world(postgres_url: str, tmp_path: Path) -> Iterator[World]:
    with ExitStack() as stack:
        yield World(stack, postgres_url, tmp_path, SERIES)


def test_two_variants_write_exactly_the_exporters_series(world: World) -> None:
    experiment = world.start_experiment()
    world.wait_started(experiment)
    collectors = world.collectors()
    assert set(collectors) == {"baseline", "twin"}
    ports = {
        variant: next(a for a in p.cmdline() if a.startswith("--web.listen-address="))
        for variant, p in collectors.items()
    }
    assert ports["baseline"] != ports["twin"]

    # the agent measures each collector (CPU, memory) into the control plane's metrics cache
    def measured() -> set[str]:
        with world.engine.connect() as connection:
            return set(
                connection.scalars(
                    text(
                        "SELECT DISTINCT variant FROM metrics_cache WHERE experiment_id = :e"
                        " AND metric_name = 'phoenix_collector_rss_bytes' AND value > 1000000"
                    ),
                    {"e": experiment},
                )
            )

    until(lambda: measured() == {"baseline", "twin"}, "both collectors were measured")
    truth = {
        frozenset((k, v) for k, v in row.items() if k != "__value__" and v)
        for row in SERIES.to_dict("records")
    }
    for variant in ("baseline", "twin"):
        until(
            lambda v=variant: len(world.arrived(experiment, v, "phx_demo_.*")) >= len(truth),
            f"{variant}'s series",
        )
        assert world.arrived(experiment, variant, "phx_demo_.*") == truth
    # kill -9: the agent starts it again, and says so in its heartbeat
    victim = collectors["baseline"]
    victim.kill()
    restarted = until(
        lambda: (p := world.collectors().get("baseline")) and p.pid != victim.pid and p,
        "the baseline's collector was restarted",
    )
    assert restarted.is_running()
    # stop: stop tasks reach the agent, its collectors end, the experiment is stopped
    world.stop(experiment)


def test_a_crash_looping_collector_fails_its_experiment(world: World) -> None:
    experiment = world.start_experiment()
    world.wait_started(experiment)
    killed: set[int] = set()
    for _ in range(3):  # three quick deaths in a row (PHOENIX_AGENT_CRASH_LOOP_AFTER=3)
        process = until(
            lambda: (p := world.collectors().get("twin")) and p.pid not in killed and p,
            "the twin's collector runs again",
        )
        killed.add(process.pid)
        process.kill()
    until(lambda: world.state_of(experiment) == "failed", "the experiment failed")
    reason = world.operator.get(f"/api/v1/experiments/{experiment}").json()["failure_reason"]
    assert "twin" in reason and "crash-looping" in reason
    assert "twin" not in world.collectors()  # left stopped, not restarted forever
    hosts = world.operator.get("/api/v1/hosts").json()
    assert phoenix_core.__version__ == hosts[0]["agent_version"]
    # The host was degraded when the experiment failed. Its status now is no evidence: the
    # failure stops the twin, and the agent's next heartbeat says healthy again (measured
    # 0.345 s later). So read its status changes from the audit trail instead.
    assert _status_when_failed(world, experiment, hosts[0]["id"]) == ("degraded", "agent:web-1")


def _status_when_failed(world: World, experiment: str, host: str) -> tuple[str, str]:
    """The status the host had when the experiment failed, and who set it: its last status
    change before the failure, from the events table."""
    with world.engine.connect() as connection:
        events = connection.execute(
            text(
                "SELECT id, type, actor, data FROM events"
                " WHERE (host_id = :h AND type = 'host_status_changed')"
                " OR (experiment_id = :e AND type = 'experiment_state_changed') ORDER BY id"
            ),
            {"h": host, "e": experiment},
        ).all()
    failed = next(
        e.id for e in events if e.type == "experiment_state_changed" and e.data["to"] == "failed"
    )
    changes = [e for e in events if e.type == "host_status_changed" and e.id < failed]
    assert changes, f"the host's status never changed before the experiment failed: {events}"
    return changes[-1].data["to"], changes[-1].actor


def test_load_and_a_reducing_candidate_match_the_truth_and_the_forecast(world: World) -> None:
    """The high-cardinality load serves 30 processes x 2 metrics; the baseline delivers exactly
    those 60 series, and a top-5 candidate (its keep-list from the baseline's values in
    Prometheus) exactly the 10 series of the 5 busiest processes, as the forecast says."""
    experiment = world.start_experiment(
        variants=[
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {"name": "top5", "role": "candidate", "template": "top-k", "variables": {"k": 5}},
        ],
        sources=[{"name": "loadsim", "kind": "loadsim"}],
        load_profile={"name": "high-cardinality", "parameters": {"series": 30, "metrics": 2}},
    )
    names = "process_cpu_seconds_total|process_resident_memory_bytes"
    truth = {
        frozenset({("__name__", name), ("process", f"proc-0-{i:05d}"), ("pid", str(10_000 + i))})
        for name in names.split("|")
        for i in range(30)
    }
    until(
        lambda: len(world.arrived(experiment, "baseline", names, "loadsim")) >= 60,
        "baseline series",
    )
    assert world.arrived(experiment, "baseline", names, "loadsim") == truth
    world.wait_started(experiment)
    busiest = {f"proc-0-{i:05d}" for i in range(5)}  # CPU 1000 / (i + 1): the first five
    expected = {s for s in truth if dict(s)["process"] in busiest}
    until(lambda: len(world.arrived(experiment, "top5", names, "loadsim")) >= 10, "top5 series")
    time.sleep(3)  # a few more scrapes: still only those
    assert world.arrived(experiment, "top5", names, "loadsim") == expected
    assert world.operator.post(f"/api/v1/experiments/{experiment}/stop").status_code == 202
    until(lambda: world.state_of(experiment) == "stopped", "the experiment stopped")
    load = world.state / "load" / experiment
    assert load.is_dir()
    until(
        lambda: (
            not [
                p
                for p in psutil.process_iter(["cmdline", "cwd"])
                if "phoenix_agent.loadsim" in " ".join(p.info["cmdline"] or [])
                and (p.info["cwd"] or "").startswith(str(load))
            ]
        ),
        "the load is gone",
    )


def test_a_restarted_agent_adopts_its_collectors(world: World) -> None:
    """kill -9 of the agent: the collectors live on and the next agent adopts them; one that
    died while no agent watched (as in a container restart or a reboot) is started again."""
    experiment = world.start_experiment()
    world.wait_started(experiment)
    before = {variant: p.pid for variant, p in world.collectors().items()}
    assert set(before) == {"baseline", "twin"}
    os.killpg(world.agent.pid, signal.SIGKILL)  # kill -9 of the agent: the collectors live on
    world.agent.wait(timeout=10)
    assert {variant: p.pid for variant, p in world.collectors().items()} == before
    os.killpg(before["baseline"], signal.SIGKILL)  # and one of them dies while unwatched
    until(lambda: set(world.collectors()) == {"twin"}, "the baseline collector is gone")
    with world.run_agent():
        until(
            lambda: (
                "adopted 1 collectors (started 1 that were gone again"
                in (world.state / "status").read_text()
            ),
            "the new agent adopted one and started the other again",
        )
        until(lambda: set(world.collectors()) == {"baseline", "twin"}, "both run again")
        time.sleep(2)  # a few heartbeats and polls later: still the same two, no duplicates
        now = {variant: p.pid for variant, p in world.collectors().items()}
        assert now["twin"] == before["twin"] and now["baseline"] != before["baseline"]
        assert world.state_of(experiment) in ("warming_up", "running")
        # the adopted collectors stop like any other
        world.stop(experiment)


def test_collectors_outlive_an_api_outage(world: World) -> None:
    experiment = world.start_experiment()
    world.wait_started(experiment)
    before = {variant: p.pid for variant, p in world.collectors().items()}
    os.killpg(world.api.pid, signal.SIGTERM)  # the API goes away for 30 s
    world.api.wait(timeout=30)
    down_since = time.monotonic()
    status = world.state / "status"
    until(lambda: "poll retrying" in status.read_text(), "the agent noticed the outage")
    time.sleep(max(0.0, 30 - (time.monotonic() - down_since)))
    # meanwhile the collectors ran on untouched and the agent waited
    assert {variant: p.pid for variant, p in world.collectors().items()} == before
    assert world.agent.poll() is None
    with api_server(world.env, port=world.api_port):  # back, on the same address
        world.stop(experiment)
