"""Comparing a candidate's result of a query with the baseline's: the rule and its words.

Frames are built as ``PrometheusReader`` returns them (``to_frame`` of the API's ``result``), with
the identity labels a scoped query keeps, which the comparison leaves out.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from phoenix_core.guardrail.comparison import (
    DEFAULT_TOLERANCE,
    Comparison,
    combine,
    compare_results,
    format_series,
)
from phoenix_core.metrics.reader import to_frame
from phoenix_core.wire.labels import EXPERIMENT, VARIANT

T = 1_700_000_000.0
IDENTITY = (EXPERIMENT, VARIANT)
PODS = ["p1", "p2", "p3", "p4"]
CODES = ["200", "404", "500"]


def result(variant: str, series: list[tuple[dict[str, str], float]], at: float = T) -> Any:
    """An instant vector as the API gives it, scoped to ``variant``."""
    identity = {EXPERIMENT: "exp-1", VARIANT: variant}
    return [{"metric": {**labels, **identity}, "value": [at, str(v)]} for labels, v in series]


def frame(variant: str, series: list[tuple[dict[str, str], float]], at: float = T) -> pd.DataFrame:
    return to_frame(result(variant, series, at))


def by_pod_and_code(scale: float = 1.0) -> list[tuple[dict[str, str], float]]:
    return [
        ({"__name__": "http_requests_total", "pod": p, "code": c}, (i + 1) * 10.0 * scale)
        for i, (p, c) in enumerate((p, c) for p in PODS for c in CODES)
    ]


def summed_over_pods() -> list[tuple[dict[str, str], float]]:
    totals: dict[str, float] = {}
    for labels, value in by_pod_and_code():
        totals[labels["code"]] = totals.get(labels["code"], 0.0) + value
    return [({"__name__": "http_requests_total", "code": c}, v) for c, v in totals.items()]


def compare(base: Any, cand: Any, **options: Any) -> Comparison:
    return compare_results(base, cand, drop_labels=IDENTITY, **options)


def test_the_same_series_and_values_are_preserved() -> None:
    found = compare(frame("baseline", by_pod_and_code()), frame("top20", by_pod_and_code()))
    assert found == Comparison(
        "preserved",
        "the same 12 series; values within 1 % (max relative difference 0 %)",
        12,
        12,
        0,
    )


def test_no_series_on_the_candidate() -> None:
    found = compare(frame("baseline", by_pod_and_code()), frame("top20", []))
    assert (found.outcome, found.finding) == ("changed", "returns 0 series instead of 12")


def test_series_only_on_the_candidate_count_too() -> None:
    """``absent(up{job="api"})`` fires on a candidate that dropped ``up``."""
    fired = frame("top20", [({"job": "api"}, 1.0)])
    found = compare(frame("baseline", []), fired)
    assert (found.outcome, found.finding) == ("changed", "returns 1 series instead of 0")


def test_nothing_on_either_side_is_no_data() -> None:
    found = compare(frame("baseline", []), frame("top20", []))
    assert found.outcome == "no_data"
    assert found.finding == "returns no series, for the baseline either"


def test_a_dropped_label() -> None:
    found = compare(frame("baseline", by_pod_and_code()), frame("nopod", summed_over_pods()))
    assert found.outcome == "changed"
    assert found.finding == "loses label `pod` (12 series become 3)"


def test_a_renamed_label() -> None:
    renamed = [({"pod_name": labels["pod"]}, v) for labels, v in by_pod_and_code()[:4]]
    original = [({"pod": labels["pod"]}, v) for labels, v in by_pod_and_code()[:4]]
    found = compare(frame("baseline", original), frame("relabel", renamed))
    assert found.finding == "loses label `pod`; gains label `pod_name`"


def test_missing_series_are_named() -> None:
    kept = [s for s in by_pod_and_code() if s[0]["code"] != "500" or s[0]["pod"] == "p4"]
    found = compare(frame("baseline", by_pod_and_code()), frame("filtered", kept))
    assert found.finding == (
        '3 of 12 series missing: http_requests_total{code="500", pod="p1"}, '
        'http_requests_total{code="500", pod="p2"}, http_requests_total{code="500", pod="p3"}'
    )


def test_many_missing_series_are_counted() -> None:
    found = compare(frame("baseline", by_pod_and_code()), frame("top2", by_pod_and_code()[:2]))
    assert found.finding.startswith("10 of 12 series missing: ")
    assert found.finding.endswith(" and 7 more")


def test_series_the_baseline_does_not_have() -> None:
    extra = [*by_pod_and_code(), ({"__name__": "http_requests_total", "pod": "other"}, 1.0)]
    found = compare(frame("baseline", by_pod_and_code()), frame("odd", extra))
    assert found.finding == '1 series the baseline does not have: http_requests_total{pod="other"}'


def test_values_beyond_the_tolerance() -> None:
    base = by_pod_and_code()
    factor = {"200": 1.042, "404": 1.02, "500": 1.03}
    cand = [
        (labels, v * factor[labels["code"]] if labels["pod"] == "p1" else v) for labels, v in base
    ]
    found = compare(frame("baseline", base), frame("lossy", cand))
    assert found.outcome == "changed"
    assert found.finding == (
        "values differ on 3 of 12 series (relative difference 4.2 %, tolerance 1 %), "
        'e.g. http_requests_total{code="200", pod="p1"}: 10.42 instead of 10'
    )
    assert found.max_difference == pytest.approx(0.042)
    assert compare(frame("baseline", base), frame("lossy", cand), tolerance=0.05).outcome == (
        "preserved"
    )


def test_a_single_value_reads_as_a_value() -> None:
    found = compare(frame("baseline", [({}, 4.0)]), frame("lossy", [({}, 3.0)]))
    assert found.finding == "value 3 instead of 4 (relative difference 25 %, tolerance 1 %)"


def test_a_scalar_result() -> None:
    base = to_frame([T, "4"])
    assert compare(base, to_frame([T, "4.01"])).outcome == "preserved"
    assert compare(base, to_frame([T, "5"])).finding.startswith("value 5 instead of 4")


def test_nan_matches_only_nan() -> None:
    nan = [({"job": "a"}, math.nan)]
    assert compare(frame("baseline", nan), frame("c", nan)).outcome == "preserved"
    found = compare(frame("baseline", [({"job": "a"}, 3.0)]), frame("c", nan))
    assert found.finding == (
        'values differ on 1 of 1 series (tolerance 1 %), e.g. {job="a"}: nan instead of 3'
    )


def test_tiny_differences_near_zero_do_not_count() -> None:
    found = compare(frame("baseline", [({"job": "a"}, 0.0)]), frame("c", [({"job": "a"}, 1e-12)]))
    assert found.outcome == "preserved"


def test_a_value_within_what_the_baseline_shows_around_the_time_is_preserved() -> None:
    """A rate the candidate computed over samples taken 7 s later than the baseline's."""
    base = frame("baseline", [({"job": "a"}, 100.0)])
    cand = frame("c", [({"job": "a"}, 104.0)])
    around = pd.concat(
        [frame("baseline", [({"job": "a"}, v)], at=T + dt) for v, dt in ((98.0, -15), (105.0, 15))]
    )
    assert compare(base, cand).outcome == "changed"  # 4 % off the baseline at t alone
    assert compare(base, cand, baseline_around=around).outcome == "preserved"
    beyond = frame("c", [({"job": "a"}, 107.1)])
    found = compare(base, beyond, baseline_around=around)
    assert found.outcome == "changed"
    assert found.max_difference == pytest.approx(2.1 / 105)


def test_a_series_renamed_between_the_two_scrapes_is_not_missing() -> None:
    """The source renamed its sessions at 10:00:03: the baseline (scraped at :05) shows the new
    names at t = :08, the candidate (scraped at :09) still the old ones."""
    old = [({"session": f"old-{i}"}, 1.0) for i in range(3)]
    new = [({"session": f"new-{i}"}, 1.0) for i in range(3)]
    base, cand = frame("baseline", new), frame("c", old)
    assert compare(base, cand).finding == (
        '3 of 3 series missing: {session="new-0"}, {session="new-1"}, {session="new-2"}; 3 series '
        'the baseline does not have: {session="old-0"}, {session="old-1"}, {session="old-2"}'
    )
    base_around = pd.concat([frame("baseline", old, at=T - 15), base])
    cand_around = pd.concat([cand, frame("c", new, at=T + 15)])
    found = compare(base, cand, baseline_around=base_around, candidate_around=cand_around)
    assert found.outcome == "preserved"
    # a series the candidate never has, around t either, is missing all the same
    found = compare(base, cand, baseline_around=base_around, candidate_around=cand)
    assert found.finding == (
        '3 of 3 series missing: {session="new-0"}, {session="new-1"}, {session="new-2"}'
    )


def test_identity_labels_are_left_out_and_host_is_kept() -> None:
    hosts = [({"job": "a", "phoenix_host": h}, 1.0) for h in ("web-1", "web-2")]
    assert compare(frame("baseline", hosts), frame("c", hosts)).outcome == "preserved"
    found = compare(frame("baseline", hosts), frame("c", hosts[:1]))
    assert found.finding == '1 of 2 series missing: {job="a", phoenix_host="web-2"}'


def test_a_range_vector_is_compared_on_each_series_latest_sample() -> None:
    def matrix(values: list[float]) -> pd.DataFrame:
        return to_frame(
            [
                {
                    "metric": {"job": "a"},
                    "values": [[T - 15 * i, str(v)] for i, v in enumerate(values)],
                }
            ]
        )

    assert compare(matrix([5.0, 1.0, 2.0]), matrix([5.0, 3.0])).outcome == "preserved"
    assert compare(matrix([5.0, 1.0]), matrix([6.0, 1.0])).outcome == "changed"


def test_tolerance_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        compare(frame("baseline", []), frame("c", []), tolerance=-0.1)


def test_combining_evaluation_times() -> None:
    ok = Comparison("preserved", "the same 4 series; values within 1 %", 4, 4, 0.0)
    lost = Comparison("changed", "returns 0 series instead of 4", 4, 0)
    empty = Comparison("no_data", "returns no series, for the baseline either", 0, 0)
    assert combine([ok, lost, ok]).finding == (
        "returns 0 series instead of 4 (at 1 of 3 evaluation times)"
    )
    assert combine([lost, lost]).finding == "returns 0 series instead of 4"
    assert (
        combine([ok, ok, ok]).finding
        == "at 3 evaluation times: the same 4 series; values within 1 %"
    )
    assert combine([empty, ok]).finding == (
        "at 2 evaluation times: the same 4 series; values within 1 % (no series at 1 of them)"
    )
    assert combine([empty, empty]).outcome == "no_data"
    assert combine([ok]) == ok


def test_series_are_written_as_promql() -> None:
    series = frozenset({("__name__", "up"), ("job", 'a"b'), ("instance", "x")})
    assert format_series(series) == 'up{instance="x", job="a\\"b"}'
    assert format_series(frozenset()) == "{}"
    assert DEFAULT_TOLERANCE == 0.01
