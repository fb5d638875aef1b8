"""Measurements that equal the truth: one A/B/n experiment per collector kind, through the real
API, agent, collectors and receiving Prometheus, on a source whose every series is known.

The source (``support.ground_truth``) has a ``host`` label of its own and more series than one
remote-write batch. The baseline must deliver exactly the source; each candidate exactly what
its steps leave of it, computed from the source's data in the test; every critical series must
reach every variant. Series are read from the receiver over all time, so a series a candidate
let through before its keep-list was complete would show."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from phoenix_core.pipelines.scrape import SCRAPE_META_SERIES
from phoenix_core.wire.labels import IDENTITY_LABELS, matchers
from support import ground_truth
from support.otelcol import collector_binary
from support.world import World, until

ADDED = {*IDENTITY_LABELS, "job", "instance", "otel_scope_name", "otel_scope_version"}
"""Labels a collector adds to every series: Phoenix's identity, the target's, otelcol's scope."""


@pytest.fixture(params=["prometheus-agent", "otelcol"])
def world(request: pytest.FixtureRequest, postgres_url: str, tmp_path: Path) -> Iterator[World]:
    agent_env = {}
    if request.param == "otelcol":
        agent_env["PHOENIX_AGENT_OTELCOL_BINARY"] = str(collector_binary())
    with ExitStack() as stack:
        world = World(
            stack,
            postgres_url,
            tmp_path,
            ground_truth.source(),
            agent_env=agent_env,
            scrape_interval_seconds=2,
        )
        world.collector = request.param
        yield world


def _delivered(world: World, experiment: str, variant: str) -> set[ground_truth.Series]:
    """Every series of the variant the receiver ever got from the source, as label sets."""
    match = f'{{{matchers(experiment, variant)},job="truth"}}'
    return {
        frozenset((k, v) for k, v in labels.items() if k not in ADDED)
        for labels in world.prometheus.series(match)
        if labels["__name__"] not in SCRAPE_META_SERIES
    }


def _spec(world: World, **changes: Any) -> dict[str, Any]:
    return {
        "name": f"ground truth on {world.collector}",
        "variants": ground_truth.candidates(),
        "collector": world.collector,
        "sources": [{"name": "truth", "kind": "scrape", "address": world.exporter}],
        "critical_selectors": [ground_truth.CRITICAL_SELECTOR],
    } | changes


def test_every_variant_delivers_exactly_the_truth(world: World) -> None:
    experiment = world.start_experiment(**_spec(world))
    world.wait_started(experiment)
    expected = ground_truth.expected()
    delivered: dict[str, set[ground_truth.Series]] = {}

    def settled() -> bool:
        delivered.update({v: _delivered(world, experiment, v) for v in expected})
        return all(len(delivered[v]) >= len(expected[v]) for v in expected)

    until(settled, "every variant delivered at least its expected series", timeout=120)
    time.sleep(5)  # more scrapes: nothing beyond the truth arrives later either
    for variant, series in expected.items():
        got = _delivered(world, experiment, variant)
        extra, missing = got - series, series - got
        assert not extra and not missing, (
            f"{variant}: {len(extra)} series beyond the truth (e.g. {sorted(extra)[:2]}), "
            f"{len(missing)} missing (e.g. {sorted(missing)[:2]})"
        )
        assert ground_truth.critical_series() <= got, f"{variant} lost critical series"
    world.stop(experiment)


def test_a_drop_that_would_merge_series_fails_at_once_naming_it(world: World) -> None:
    """On prometheus-agent, which cannot sum series, a drop of a label that tells series apart
    is refused as soon as the baseline's inventory is known: the experiment fails with the
    step, the labels and how many series would merge, not with a deploy timeout."""
    if world.collector != "prometheus-agent":
        pytest.skip("the OpenTelemetry Collector sums the series a drop merges")
    variants = [
        {"name": "baseline", "role": "baseline", "template": "baseline"},
        {
            "name": "no-endpoint",
            "role": "candidate",
            "template": "drop-labels",
            "variables": {"labels": ["endpoint"], "apply_to": ground_truth.REQUESTS},
        },
    ]
    experiment = world.start_experiment(**_spec(world, variants=variants))
    until(lambda: world.state_of(experiment) == "failed", "the experiment failed", timeout=90)
    record = world.operator.get(f"/api/v1/experiments/{experiment}").json()
    reason = record["failure_reason"]
    requests = [  # what the drop applies to: the requests the critical selector leaves
        labels
        for labels in ground_truth.expected()["baseline"] - ground_truth.critical_series()
        if ("__name__", ground_truth.REQUESTS) in labels
    ]
    without_endpoint = {frozenset(p for p in labels if p[0] != "endpoint") for labels in requests}
    merged = len(requests) - len(without_endpoint)  # 9,472 series into 592
    assert "variant no-endpoint on host web-1" in reason, reason
    assert "drop_labels cannot run on prometheus-agent" in reason, reason
    assert f"shows {merged} series would collide once endpoint are removed" in reason, reason
    assert "timed out" not in reason
