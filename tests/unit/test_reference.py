"""The completeness rule for the baseline's inventory, against scripted Prometheus answers (the
real receiver drives it in ``tests/e2e/test_ground_truth.py``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from phoenix_core.controller.reference import PrometheusReference
from phoenix_core.metrics.reader import StaticReader

EXPERIMENT = uuid.UUID("8d1c2b7e-0000-4000-8000-000000000001")
IDENTITY = {
    "phoenix_experiment_id": str(EXPERIMENT),
    "phoenix_variant": "baseline",
    "phoenix_host": "web-1",
}


def _series(count: int) -> list[dict[str, Any]]:
    return [
        {
            "metric": {"__name__": "m", "i": str(i), "job": "app", "host": "db-1", **IDENTITY},
            "value": [1.0, str(float(i))],
        }
        for i in range(count)
    ] + [{"metric": {"__name__": "up", "job": "app", **IDENTITY}, "value": [1.0, "1"]}]


def _reference(held: int, reported: list[float]) -> tuple[PrometheusReference, list[str]]:
    def answer(query: str) -> list[dict[str, Any]]:
        if query.startswith("scrape_samples_post_metric_relabeling"):
            values = [[float(t), str(v)] for t, v in enumerate(reported)]
            return [{"metric": {"job": "app", **IDENTITY}, "values": values}] if values else []
        return _series(held)

    reader = StaticReader(answer)
    return PrometheusReference(reader, scrape_interval_seconds=2), reader.asked


def test_a_complete_steady_inventory_is_the_reference() -> None:
    reference, queries = _reference(1906, [1906.0, 1906.0, 1906.0])
    found = reference.latest(EXPERIMENT, "baseline", "web-1", ["app"])
    assert found.inventory is not None and len(found.inventory) == 1906
    assert "host" in found.inventory.columns  # the source's own label
    assert not set(IDENTITY) & set(found.inventory.columns)
    assert queries[0] == (
        f'{{phoenix_experiment_id="{EXPERIMENT}",phoenix_variant="baseline",'
        'phoenix_host="web-1",job=~"app"}'
    )


@pytest.mark.parametrize(
    ("held", "reported", "waiting"),
    [
        (0, [], "no series for the baseline on host web-1 yet (query {phoenix_experiment_id="),
        (1402, [1906.0, 1906.0, 1906.0], "incomplete (1,402 series at the receiver; app: 1,402 of"),
        (1906, [1906.0, 1906.0], "app: 1,906 series, not yet steady for 3 scrapes"),
        (1906, [1800.0, 1906.0, 1906.0], "not yet steady"),
        (1906, [], "app: no scrape_samples_post_metric_relabeling for its scrapes yet"),
    ],
)
def test_until_complete_it_says_what_it_waits_for(
    held: int, reported: list[float], waiting: str
) -> None:
    reference, _ = _reference(held, reported)
    found = reference.latest(EXPERIMENT, "baseline", "web-1", ["app"])
    assert found.inventory is None
    assert waiting in found.waiting_for
