"""Each step of the IR in the simulator, including the corners: absent labels, ties, protection."""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
import pytest

from phoenix_core.errors import ValidationFailed
from phoenix_core.pipelines.inventory import inventory_from_series
from phoenix_core.pipelines.ir import parse_pipeline
from phoenix_core.pipelines.simulator import forecast, hashmod


def _run(steps: list[dict[str, Any]], rows: list[dict[str, Any]]) -> pd.DataFrame:
    return forecast(parse_pipeline({"steps": steps}), pd.DataFrame(rows).fillna("")).series


def _names(frame: pd.DataFrame, column: str = "__name__") -> list[str]:
    return sorted(frame[column].astype(str))


ROWS = [
    {"__name__": "a_total", "env": "prod", "__value__": 1.0},
    {"__name__": "a_total", "env": "dev", "__value__": 2.0},
    {"__name__": "a_total", "__value__": 3.0},  # no env label: reads as ""
    {"__name__": "b_total", "env": "prod", "__value__": 4.0},
]


def test_keep_and_drop_metrics() -> None:
    assert _names(_run([{"keep_metrics": {"regex": "a_.*"}}], ROWS)) == ["a_total"] * 3
    assert _names(_run([{"drop_metrics": {"regex": "a_.*"}}], ROWS)) == ["b_total"]
    # anchored: "a" alone matches nothing
    assert _run([{"keep_metrics": {"regex": "a"}}], ROWS).empty


def test_series_steps_read_an_absent_label_as_empty() -> None:
    kept = _run([{"keep_series": {"label": "env", "regex": "prod|"}}], ROWS)
    assert sorted(kept["__value__"]) == [1.0, 3.0, 4.0]
    dropped = _run([{"drop_series": {"label": "env", "regex": "", "metrics": "a_.*"}}], ROWS)
    assert sorted(dropped["__value__"]) == [1.0, 2.0, 4.0]


def test_series_steps_respect_their_metric_scope() -> None:
    kept = _run([{"keep_series": {"label": "env", "regex": "dev", "metrics": "a_total"}}], ROWS)
    assert sorted(kept["__value__"]) == [2.0, 4.0]


def test_top_k_ties_go_to_the_smaller_value_and_absent_counts_as_empty() -> None:
    rows = [
        {"__name__": "m", "p": "b", "__value__": 5.0},
        {"__name__": "m", "p": "a", "__value__": 5.0},
        {"__name__": "m", "__value__": 9.0},
        {"__name__": "other", "p": "z", "__value__": 1.0},
    ]
    result = forecast(
        parse_pipeline({"steps": [{"top_k": {"metric": "m", "k": 2, "by_label": "p"}}]}),
        pd.DataFrame(rows).fillna(""),
    )
    assert result.effects[0].keep_values == ("", "a")
    # scope defaults to the metric itself: 'other' is untouched
    assert sorted(result.series["p"].astype(str)) == ["", "a", "z"]


def test_value_steps_need_values() -> None:
    with pytest.raises(ValidationFailed, match=r"steps\.0: top_k needs series values"):
        _run(
            [{"top_k": {"metric": "a_total", "k": 1, "by_label": "env"}}],
            [{k: v for k, v in r.items() if k != "__value__"} for r in ROWS],
        )


def test_filter_below_ignores_unknown_values() -> None:
    frame = pd.DataFrame({"__name__": ["m", "m"], "i": ["1", "2"], "__value__": [None, 0.0]})
    result = forecast(
        parse_pipeline({"steps": [{"filter_below": {"metric": "m", "threshold": 1}}]}), frame
    )
    assert list(result.series["i"].astype(str)) == ["1"]


def test_sample_uses_prometheus_hashmod() -> None:
    value = "user-42"
    digest = hashlib.md5(value.encode(), usedforsecurity=False).digest()
    assert hashmod(value) == int.from_bytes(digest[8:], "big") % 1000
    rows = [{"__name__": "m", "u": f"u{i}", "__value__": 1.0} for i in range(400)]
    kept = _run([{"sample": {"hash_label": "u", "keep_fraction": 0.25}}], rows)
    assert set(kept["u"].astype(str)) == {f"u{i}" for i in range(400) if hashmod(f"u{i}") < 250}
    assert 60 < len(kept) < 140  # a quarter, give or take what MD5 does with 400 values


def test_protect_exempts_from_every_later_step_only() -> None:
    steps = [
        {"drop_series": {"label": "env", "regex": "dev"}},  # before protect: applies
        {"protect": {"selectors": ['a_total{env!="prod"}']}},
        {"drop_metrics": {"regex": "a_total"}},
        {"drop_labels": {"labels": ["env"]}},
    ]
    result = _run(steps, ROWS)
    # dev was dropped before protection; the env-less a_total is protected (""!="prod")
    assert sorted(result["__value__"]) == [3.0, 4.0]
    assert "env" not in result.columns  # b_total lost env; the protected one never had it


def test_drop_labels_merges_only_unprotected_series() -> None:
    rows = [
        {"__name__": "m", "pid": "1", "p": "x", "__value__": 1.0},
        {"__name__": "m", "pid": "2", "p": "x", "__value__": 2.0},
        {"__name__": "m", "pid": "3", "p": "y", "__value__": 4.0},
    ]
    steps = [{"protect": {"selectors": ['m{pid="3"}']}}, {"drop_labels": {"labels": ["pid"]}}]
    result = forecast(parse_pipeline({"steps": steps}), pd.DataFrame(rows))
    assert sorted(zip(result.series["p"].astype(str), result.series["__value__"], strict=True)) == [
        ("x", 3.0),
        ("y", 4.0),
    ]
    assert result.collisions == 0


def test_aggregate_keeps_a_histogram_s_buckets_and_sums_it_whatever_its_function() -> None:
    """``le`` of a ``_bucket`` series is the bucket, not a label to aggregate away; a histogram
    family combines with sum (max of bucket counts means nothing); other series with ``fn``, and
    an ``le`` elsewhere is a label like any other."""
    rows = [
        {"__name__": "lat_bucket", "pod": "1", "le": "0.1", "__value__": 1.0},
        {"__name__": "lat_bucket", "pod": "1", "le": "+Inf", "__value__": 2.0},
        {"__name__": "lat_count", "pod": "1", "__value__": 2.0},
        {"__name__": "lat_bucket", "pod": "2", "le": "0.1", "__value__": 3.0},
        {"__name__": "lat_bucket", "pod": "2", "le": "+Inf", "__value__": 6.0},
        {"__name__": "lat_count", "pod": "2", "__value__": 6.0},
        {"__name__": "load", "pod": "1", "le": "x", "__value__": 5.0},
        {"__name__": "load", "pod": "2", "le": "y", "__value__": 7.0},
    ]
    result = _run([{"aggregate": {"by": [], "fn": "max"}}], rows)
    names, les = result["__name__"].astype(str), result["le"].astype(str)
    got = dict(zip(zip(names, les, strict=True), result["__value__"], strict=True))
    assert got == {("lat_bucket", "0.1"): 4.0, ("lat_bucket", "+Inf"): 8.0,
                   ("lat_count", ""): 8.0, ("load", ""): 7.0}  # fmt: skip


def test_inventory_refuses_duplicates_and_needs_a_name() -> None:
    with pytest.raises(ValidationFailed, match="more than once"):
        inventory_from_series([{"__name__": "m", "a": "1"}, {"__name__": "m", "a": "1"}])
    with pytest.raises(ValidationFailed, match="needs a '__name__' column"):
        forecast(parse_pipeline({"steps": []}), pd.DataFrame({"a": ["1"]}))


def test_per_metric_table() -> None:
    inventory = pd.DataFrame(ROWS).fillna("")
    result = forecast(
        parse_pipeline({"steps": [{"drop_metrics": {"regex": "b_total"}}]}), inventory
    )
    table = result.per_metric(inventory).set_index("metric")
    assert table.loc["a_total"].tolist() == [3, 3, 0.0]
    assert table.loc["b_total"].tolist() == [1, 0, 100.0]


def test_numbers_as_label_values_read_as_text() -> None:
    frame = inventory_from_series([{"__name__": "m", "code": 200}, {"__name__": "m", "code": 404}])
    kept = forecast(
        parse_pipeline({"steps": [{"keep_series": {"label": "code", "regex": "2.."}}]}), frame
    )
    assert list(kept.series["code"].astype(str)) == ["200"]


def test_a_source_label_named_like_phoenix_s_moves_to_exported_first() -> None:
    """As every collector config does before its steps: the source's own phoenix_host keeps
    its value as exported_phoenix_host (an existing exported_ value stays where it is unset)."""
    rows = [
        {"__name__": "m", "phoenix_host": "db-1", "host": "h", "__value__": 1.0},
        {"__name__": "m", "exported_phoenix_host": "old", "__value__": 2.0},
    ]
    out = _run([{"keep_series": {"label": "exported_phoenix_host", "regex": "db-1|old"}}], rows)
    assert "phoenix_host" not in out.columns
    assert sorted(out["exported_phoenix_host"].astype(str)) == ["db-1", "old"]
    assert sorted(out["host"].astype(str)) == ["", "h"]  # a plain `host` label is the source's
