"""The inventory's pure parts: which labels share a query, the PromQL it asks, how answers
become its tables, what the API and the CLI make of it, and what a request may ask. (Against
a real Prometheus, every number: tests/e2e/test_cardinality.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from phoenix_api.cli.cardinality import inventory_lines
from phoenix_api.routers.cardinality import answer
from phoenix_core.errors import FieldError, ValidationFailed
from phoenix_core.metrics.cardinality import LabelIndex, Plan, duration_seconds, plan_groups
from phoenix_core.metrics.inventory import (
    Inventory,
    InventoryQuery,
    assemble,
    group_tables,
    histogram_values,
    pair_threshold,
    pairs_from_top,
    series_per_metric,
)
from phoenix_core.metrics.inventory_queries import SERIES_PER_VALUE, Window
from phoenix_core.metrics.reader import MetricsUnavailable, to_frame
from phoenix_core.pipelines.selectors import parse_selector
from phoenix_core.use_cases.cardinality import Cardinality

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(seconds=90.5)


def vector(*rows: tuple[dict[str, str], float]) -> pd.DataFrame:
    """A Prometheus instant-vector answer, as the reader turns it into a frame."""
    return to_frame([{"metric": labels, "value": [END.timestamp(), str(v)]} for labels, v in rows])


# --- which labels share a query ------------------------------------------------------------


def test_labels_share_a_query_while_its_answer_stays_within_the_rows() -> None:
    index = {
        "job": LabelIndex(1, frozenset({"a", "b"})),
        "code": LabelIndex(3, frozenset({"a"})),
        "pod": LabelIndex(10, frozenset({"a", "b"})),
        "id": LabelIndex(1000, frozenset({"a"})),
        "gone": LabelIndex(5, frozenset()),  # no metric of the selector carries it
    }
    # job, code, pod together: a has 1*3*10 combinations, b 1*10: 40 rows; id alone 1,001
    assert plan_groups({"a", "b"}, index, rows=40) == Plan((("job", "code", "pod"),), ("id",))
    assert plan_groups({"a", "b"}, index, rows=39) == Plan((("job", "code"), ("pod",)), ("id",))
    assert plan_groups({"a", "b"}, index, rows=0) == Plan((), ("job", "code", "pod", "id"))


def test_a_metric_without_the_groups_labels_still_answers_one_row() -> None:
    index = {"code": LabelIndex(5, frozenset({"a"}))}
    assert plan_groups({"a", "b", "c"}, index, rows=7) == Plan((("code",),), ())
    assert plan_groups({"a", "b", "c"}, index, rows=6) == Plan((), ("code",))


# --- the PromQL -----------------------------------------------------------------------------


def window(text: str = '{job="shop"}') -> Window:
    return Window(parse_selector(text), START, END)


def test_the_selector_is_written_back_escaped_with_the_range_in_milliseconds() -> None:
    w = window(r'http_requests_total{path="/a\"b\\c", code=~"5.."}')
    assert w.match() == r'{__name__="http_requests_total", path="/a\"b\\c", code=~"5.."}'
    assert w.match('pod!=""').endswith(r'code=~"5..", pod!=""}')
    assert w.range == "90500ms"
    assert w.group(["code", "pod"]) == (
        f"count by (__name__, code, pod) (last_over_time({w.match()}[90500ms]))"
    )


def test_a_varied_labels_values_and_pairs() -> None:
    w = window()
    inner = 'count by (__name__, pid) (last_over_time({job="shop", pid!=""}[90500ms]))'
    assert w.histogram("pid") == f'count_values by (__name__) ("{SERIES_PER_VALUE}", {inner})'
    assert w.top("pid", 7) == (
        'topk(7, count by (pid) (last_over_time({job="shop", pid!=""}[90500ms])))'
    )


def test_churn_matches_on_the_metric_name_too() -> None:
    w = window()
    at = f"{START.timestamp():.3f}"
    assert w.absent_at(START, ["__name__", "pid", "job"]) == (
        'count by (__name__) (last_over_time({job="shop"}[90500ms])'
        f' unless on(__name__, pid, job) {{job="shop"}} @ {at})'
    )
    copied = w.absent_at(START, None)  # label names unknown: the name becomes a label
    copy = '"__phoenix_metric__", "$1", "__name__", "(.+)")'
    assert copied == (
        f'count by (__name__) (label_replace(last_over_time({{job="shop"}}[90500ms]), {copy}'
        f' unless label_replace({{job="shop"}} @ {at}, {copy})'
    )
    assert w.present_at(END) == f'count by (__name__) ({{job="shop"}} @ {END.timestamp():.3f})'


def test_a_label_name_promql_cannot_name_is_refused() -> None:
    with pytest.raises(MetricsUnavailable, match=r"'service\.name'"):
        window().group(["service.name"])


def test_a_window_ends_after_it_starts() -> None:
    with pytest.raises(ValueError, match="ends"):
        Window(parse_selector("up"), END, START)


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300), ("1h30m", 5400), ("300ms", 0.3), ("1d", 86400)]
)
def test_prometheus_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5 m", "m5", "1h-2m"])
def test_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        duration_seconds(text)


# --- answers into tables --------------------------------------------------------------------


def test_a_group_gives_each_labels_values_per_metric_and_each_pairs_series() -> None:
    frame = vector(
        ({"__name__": "req", "code": "200", "verb": "GET"}, 4),
        ({"__name__": "req", "code": "500", "verb": "GET"}, 1),
        ({"__name__": "req", "code": "200", "verb": "PUT"}, 2),
        ({"__name__": "cpu"}, 7),  # carries neither label
    )
    assert series_per_metric(frame).to_dict() == {"cpu": 7, "req": 7}
    values, pairs = group_tables(frame, ["code", "verb", "absent"])
    assert sorted(values.itertuples(index=False, name=None)) == [
        ("req", "code", 2),
        ("req", "verb", 2),
    ]
    assert sorted(pairs.itertuples(index=False, name=None)) == [
        ("code", "200", 6),
        ("code", "500", 1),
        ("verb", "GET", 5),
        ("verb", "PUT", 2),
    ]


def test_a_histogram_gives_a_labels_values_and_the_most_series_a_pair_can_have() -> None:
    frame = vector(  # per metric: how many values of pid have n series
        ({"__name__": "cpu", SERIES_PER_VALUE: "1"}, 10),
        ({"__name__": "cpu", SERIES_PER_VALUE: "2"}, 3),
        ({"__name__": "mem", SERIES_PER_VALUE: "1"}, 4),
    )
    values, most = histogram_values(frame, "pid", SERIES_PER_VALUE)
    assert sorted(values.itertuples(index=False, name=None)) == [
        ("cpu", "pid", 13),
        ("mem", "pid", 4),
    ]
    assert most == 3  # a pid with 2 series in cpu and 1 in mem, at most
    assert histogram_values(vector(), "pid", SERIES_PER_VALUE)[1] == 0


def test_the_pair_a_label_must_beat_to_place() -> None:
    pairs = pd.DataFrame({"label": list("abc"), "value": "v", "series": [5, 9, 7]})
    assert pair_threshold(pairs, 2) == 7
    assert pair_threshold(pairs, 3) == 5
    assert pair_threshold(pairs, 4) is None  # fewer pairs than places: any pair places


def inventory(limit: int = 2) -> Inventory:
    return assemble(
        selector='{job="shop"}',
        start=START,
        end=END,
        limit=limit,
        series=pd.Series({"req": 7, "cpu": 7, "mem": 1}),
        created=pd.Series({"cpu": 2}),
        ended=pd.Series({"cpu": 1, "mem": 1}),
        values=[
            pd.DataFrame({"metric": ["req", "req"], "label": ["code", "verb"], "values": [2, 2]}),
            pd.DataFrame({"metric": ["cpu"], "label": ["pid"], "values": [7]}),
        ],
        pairs=[
            pd.DataFrame({"label": ["code", "code"], "value": ["200", "500"], "series": [6, 1]}),
            pairs_from_top(vector(({"pid": "9"}, 1), ({"pid": "10"}, 1)), "pid"),
        ],
        queries=[InventoryQuery("created", "count by (__name__) (…)", 0.5, 1)],
    )


def test_tables_are_biggest_first_ties_by_name_and_cut_to_the_limit() -> None:
    cut = inventory(limit=2)
    assert (cut.total_series, cut.created, cut.ended) == (15, 2, 2)  # before the cut
    assert (cut.metric_count, cut.label_count) == (3, 3)
    assert list(cut.metrics.itertuples(index=False, name=None)) == [
        ("cpu", 7, 2, 1),
        ("req", 7, 0, 0),
    ]
    assert list(cut.labels.itertuples(index=False, name=None)) == [
        ("cpu", "pid", 7),
        ("req", "code", 2),
    ]
    every = inventory(limit=10)
    assert list(every.pairs.itertuples(index=False, name=None)) == [
        ("code", "200", 6),
        ("code", "500", 1),
        ("pid", "10", 1),
        ("pid", "9", 1),
    ]
    assert every.window_seconds == 90.5


def test_the_apis_answer_makes_the_same_inventory() -> None:
    original = inventory(limit=10)
    returned = Inventory.from_answer(answer(original).model_dump(mode="json"))
    for table in ("metrics", "labels", "pairs"):
        pd.testing.assert_frame_equal(getattr(returned, table), getattr(original, table))
    assert returned.queries == original.queries
    assert (returned.start, returned.end, returned.total_series) == (START, END, 15)


def test_the_cli_shows_the_totals_and_three_tables() -> None:
    lines = inventory_lines(answer(inventory(limit=2)).model_dump(mode="json"))
    assert lines[:2] == [
        'Series matching {job="shop"} from 2026-12-01 12:00:00 to 2026-12-01 12:01:30 UTC (90 s):',
        "  15 series in 3 metrics; 2 created and 2 ended in the window",
    ]
    assert [line.split() for line in lines[4:6]] == [["cpu", "7", "2", "1"], ["req", "7", "0", "0"]]
    assert "(1 more metrics: --limit)" in lines
    assert "(1 more labels: --limit)" in lines
    assert [line.split() for line in lines[-2:]] == [['code="200"', "6"], ['code="500"', "1"]]


# --- what a request may ask -----------------------------------------------------------------


def _nowhere() -> Any:
    raise AssertionError("Prometheus must not be asked")


CARDINALITY = Cardinality(reader=_nowhere, clock=lambda: END)


def _refusal(**kwargs: Any) -> list[FieldError]:
    with pytest.raises(ValidationFailed) as refused:
        CARDINALITY.inventory(**kwargs)
    return refused.value.errors


def test_defaults_every_series_over_the_last_hour() -> None:
    selector, start, end = CARDINALITY.check(None, None, None, 20)
    assert selector.text == '{__name__=~".+"}'
    assert (start, end) == (END - timedelta(hours=1), END)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"selector": "{job="}, "selector"),
        ({"start": END, "end": START}, "start"),
        ({"start": START.replace(tzinfo=None)}, "start"),
        ({"start": END - timedelta(days=32)}, "start"),
        ({"end": END + timedelta(minutes=2)}, "end"),
        ({"end": datetime(1969, 1, 1, tzinfo=UTC)}, "end"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
    ],
)
def test_what_is_refused_before_prometheus_is_asked(kwargs: dict[str, Any], field: str) -> None:
    assert [error.loc for error in _refusal(**kwargs)] == [(field,)]


def test_validation_errors_move_under_a_prefix() -> None:
    failed = ValidationFailed([FieldError(("limit",), "too big")])
    assert failed.under("query").errors == [FieldError(("query", "limit"), "too big")]
