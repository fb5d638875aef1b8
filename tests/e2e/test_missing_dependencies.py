"""A missing dependency fails fast and says so (issue 21 A4): a source that does not answer
fails the experiment with the source, host and query, not with "deploy timed out" minutes
later. Real API, agent, prometheus-agent collectors and receiving Prometheus."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from support import ground_truth
from support.postgres import free_port
from support.world import World, until


@pytest.fixture
def world(postgres_url: str, tmp_path: Path) -> Iterator[World]:
    with ExitStack() as stack:
        yield World(stack, postgres_url, tmp_path, ground_truth.source())


def test_a_source_that_does_not_answer_fails_the_deploy_at_once(world: World) -> None:
    silent = f"127.0.0.1:{free_port()}"  # nothing listens there
    experiment = world.start_experiment(
        variants=[
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {
                "name": "top",
                "role": "candidate",
                "template": "top-k",
                "variables": {"k": 1, "metric": ground_truth.REQUESTS, "by_label": "service"},
            },
        ],
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
