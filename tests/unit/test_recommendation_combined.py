"""The combined drop of every unread metric (``drop_unread_metrics``), in memory on the shop of
tests/e2e/test_recommendations.py (which works its numbers out by hand): made of the single
drops that survived their forecast, forecast and priced as one change, critical selectors
protected as the single drops protect them, and only when there are two or more."""

from __future__ import annotations

import pandas as pd
import pytest

from phoenix_core.pipelines.selectors import parse_selector
from phoenix_core.pipelines.simulator import forecast
from phoenix_core.recommendations import Kind, Recommendation
from phoenix_core.recommendations.combined import unread_metrics_candidate
from phoenix_core.wire.tasks import CollectorKind
from support.recommending import CRITICAL, LIBRARY, run, shop_usage
from support.shop import LICENSE, MEMORY, QUEUE, shop_series


def _combined(recommendations: list[Recommendation]) -> list[Recommendation]:
    return [r for r in recommendations if r.kind is Kind.DROP_UNREAD_METRICS]


@pytest.mark.parametrize("collector", list(CollectorKind))
def test_the_shops_single_drops_make_one_combined_drop(collector: CollectorKind) -> None:
    outcome = run(collector=collector)
    (combined,) = _combined(outcome.recommendations)
    singles = {r.metrics[0]: r for r in outcome.recommendations if r.kind is Kind.DROP_METRIC}
    assert sorted(singles) == [MEMORY, QUEUE]
    assert combined.metrics == [MEMORY, QUEUE] and combined.labels == []
    assert combined.pipeline.template == "drop-metrics"
    assert combined.pipeline.variables == {"regex": f"{MEMORY}|{QUEUE}", "critical": [*CRITICAL]}
    assert (combined.series_before, combined.series_after) == (34, 1)
    assert [(m.metric, m.series_before, m.series_after) for m in combined.per_metric] == [
        (MEMORY, 31, 0),
        (QUEUE, 3, 1),
    ]
    assert [(p.selector, p.series) for p in combined.protects] == [(CRITICAL[0], 1)]
    assert combined.usage.summary == "none of these 2 metrics is read"
    assert (combined.usage.query_count, combined.usage.queries) == (0, [])
    # ranked with the rest: second, between the top-k (617.60) and memory alone (370.60)
    assert outcome.recommendations[1] == combined
    assert "forecast: the 2 unread metrics together" in [t.purpose for t in outcome.timings]


def test_the_combined_drop_is_priced_on_the_whole_bill_not_summed() -> None:
    outcome = run()
    (combined,) = _combined(outcome.recommendations)
    singles = [
        r.savings.monthly or 0 for r in outcome.recommendations if r.kind is Kind.DROP_METRIC
    ]
    # 154,000 -> 88,000 billed series: 903.60 - 507 (tiers are marginal: not 370.60 + 23.60)
    assert (combined.savings.total_series_before, combined.savings.total_series_after) == (77, 44)
    assert combined.savings.monthly == pytest.approx(396.60)
    assert sum(singles) == pytest.approx(394.20)


@pytest.mark.parametrize("collector", list(CollectorKind))
def test_every_series_a_critical_selector_matches_survives_the_combined_drop(
    collector: CollectorKind,
) -> None:
    critical = (*CRITICAL, f'{MEMORY}{{process=~"kubelet|proc-07"}}')
    series = shop_series()
    (combined,) = _combined(run(series, collector=collector, critical=critical).recommendations)
    assert (combined.series_before, combined.series_after) == (34, 3)
    pipeline = LIBRARY.get("drop-metrics").render(combined.pipeline.variables)
    after = forecast(pipeline, series).series
    for text in critical:
        selector = parse_selector(text)
        wanted = [r for r in _rows(series) if selector.matches(r)]
        kept = [r for r in _rows(after) if selector.matches(r)]
        assert len(kept) == len(wanted), text
    assert not {MEMORY, QUEUE} - set(after["__name__"])  # their critical series stayed


def _rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    columns = [c for c in frame.columns if c != "__value__"]
    return [{c: str(v) for c, v in row.items()} for row in frame[columns].to_dict("records")]


def test_one_single_drop_makes_no_combined_one() -> None:
    # memory wholly critical: its drop is refused, the queues' stays alone
    outcome = run(critical=(*CRITICAL, MEMORY))
    assert [r.metrics for r in outcome.recommendations if r.kind is Kind.DROP_METRIC] == [[QUEUE]]
    assert _combined(outcome.recommendations) == []
    assert not [r for r in outcome.refusals if r.kind is Kind.DROP_UNREAD_METRICS]


def test_only_the_drops_that_survived_their_forecast_are_combined() -> None:
    # the license (wholly critical) is unread too, but removes no series: refused, left out
    outcome = run()
    refused = [r.metrics for r in outcome.refusals if r.kind is Kind.DROP_METRIC]
    assert [LICENSE] in refused
    (combined,) = _combined(outcome.recommendations)
    assert LICENSE not in combined.metrics


def test_a_metric_read_by_a_new_query_leaves_the_combined_drop() -> None:
    # the queues read: only memory is dropped alone, so nothing is combined
    outcome = run(usage=shop_usage(f"sum({QUEUE})"))
    assert _combined(outcome.recommendations) == []


def test_the_candidate_needs_two_single_drops() -> None:
    drops = [r for r in run().recommendations if r.kind is Kind.DROP_METRIC]
    assert unread_metrics_candidate(drops[:1], shop_usage(), CRITICAL) is None
    made = unread_metrics_candidate(drops, shop_usage(), CRITICAL)
    assert made is not None
    assert made.title == f"drop the 2 unread metrics {MEMORY}, {QUEUE}"
    assert made.reads == (MEMORY, QUEUE)
