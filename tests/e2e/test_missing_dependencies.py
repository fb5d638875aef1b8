"""A missing dependency fails fast and says so (issue 21 A4): a source that does not answer,
or Prometheus going down during the deploy, fails the experiment naming what is missing, not
with "deploy timed out" minutes later. Real API, agent, prometheus-agent collectors and
receiving Prometheus."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from support import ground_truth
from support.postgres import free_port
from support.processes import stop_process
from support.world import World, until

OUTAGE_SECONDS = 3


@pytest.fixture
def world(postgres_url: str, tmp_path: Path) -> Iterator[World]:
    with ExitStack() as stack:
        api_env = {"PHOENIX_CONTROLLER_METRICS_OUTAGE_SECONDS": str(OUTAGE_SECONDS)}
        yield World(stack, postgres_url, tmp_path, ground_truth.source(), api_env=api_env)


TOP_1 = {
    "name": "top",
    "role": "candidate",
    "template": "top-k",
    "variables": {"k": 1, "metric": ground_truth.REQUESTS, "by_label": "service"},
}


def test_a_source_that_does_not_answer_fails_the_deploy_at_once(world: World) -> None:
    silent = f"127.0.0.1:{free_port()}"  # nothing listens there
    experiment = world.start_experiment(
        variants=[{"name": "baseline", "role": "baseline", "template": "baseline"}, TOP_1],
        sources=[
            {"name": "truth", "kind": "scrape", "address": world.exporter},
            {"name": "gone", "kind": "scrape", "address": silent},
        ],
    )
    until(lambda: world.state_of(experiment) == "failed", "the experiment failed", timeout=60)
    record = world.operator.get(f"/api/v1/experiments/{experiment}").json()
    reason = record["failure_reason"]
    assert "deploy timed out" not in reason
    assert f"source gone at {silent} on host web-1 does not answer" in reason, reason
    assert "up == 0" in reason and 'up{phoenix_experiment_id="' in reason


def test_prometheus_going_down_during_the_deploy_fails_it_naming_prometheus(world: World) -> None:
    """Prometheus stops after the start's preflight: the deploy fails once it has not answered
    for the outage setting, naming it and the error, not two minutes later as a timeout."""
    experiment = world.start_experiment(
        variants=[{"name": "baseline", "role": "baseline", "template": "baseline"}, TOP_1],
        sources=[{"name": "truth", "kind": "scrape", "address": world.exporter}],
    )
    stop_process(world.prometheus.process)
    until(lambda: world.state_of(experiment) == "failed", "the experiment failed", timeout=30)
    reason = world.operator.get(f"/api/v1/experiments/{experiment}").json()["failure_reason"]
    assert reason.startswith(
        f"the Prometheus at {world.prometheus.url} (PHOENIX_CONTROLLER_PROMETHEUS_URL) has not "
        f"answered for {OUTAGE_SECONDS} s"
    ), reason
    assert f"Cannot reach Prometheus at {world.prometheus.url}" in reason, reason
