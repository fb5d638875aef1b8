"""The Experiment detail page: its data helpers (series, downsampling, scorecard, cost, buttons)
and the page itself against the in-memory client (no server, no browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest

from phoenix_core.errors import Conflict
from phoenix_dashboards.detail_plots import scorecard_plot
from phoenix_dashboards.detail_tables import (
    actions,
    cost_table,
    events_table,
    gate_threshold,
    guardrail_table,
    host_balance_table,
    kpi_samples,
    kpi_series,
    kpi_units,
    scorecard,
    verdict_words,
)
from phoenix_dashboards.downsampling import lttb
from phoenix_dashboards.experiment import ExperimentPage
from phoenix_dashboards.kpi_plots import POINTS, KpiPlots
from support.dashboard_fake import PANEL_PANDAS_WARNING, FakeClient

pytestmark = pytest.mark.filterwarnings(PANEL_PANDAS_WARNING)

ID = "6b1f7a8e-95c6-4a38-9d0a-5f0c8a9b1c2d"
T0 = 1_764_590_400.0  # 2025-12-01 12:00 UTC
WINDOW = {"window_start": "2026-12-01T11:50:00+00:00", "window_end": "2026-12-01T12:00:00+00:00"}


@pytest.fixture(autouse=True)
def _fresh_panel_state() -> Iterator[None]:
    yield
    pn.state.reset()


def _host_row(kpi: str, variant: str, host: str, values: list[float], *, step: float = 2.0,
              offset: float = 0.0) -> dict[str, Any]:  # fmt: skip
    times = [T0 + offset + i * step for i in range(len(values))]
    return {"variant": variant, "host": host, "kpi": kpi, "unit": "series", "value": 1.0,
            "query": f"{kpi} query", "change_percent": None, "ci_low": None, "ci_high": None,
            "p_value": None, "details": {"n": len(values), "samples": {"t": times, "v": values}},
            **WINDOW}  # fmt: skip


def _comparison(variant: str, kpi: str, change: float | None, outcome: str = "pass",
                role: str = "candidate") -> dict[str, Any]:  # fmt: skip
    return {"variant": variant, "host": None, "kpi": kpi, "unit": "%", "value": 1.0,
            "query": f"the {kpi} query", "change_percent": change,
            "ci_low": None if change is None else change - 2,
            "ci_high": None if change is None else change + 2, "p_value": 0.001,
            "details": {"role": role, "outcome": outcome, "reason": f"{kpi} {outcome}"},
            **WINDOW}  # fmt: skip


VERDICT = {
    "experiment_id": ID, "outcome": "pass", "winner": "slim",
    "reasons": ["slim keeps the gates"],
    "candidates": [
        {"variant": "slim", "outcome": "pass", "reasons": ["all gates pass"],
         "notes": ["cpu within tolerance"]},
        {"variant": "top5", "outcome": "fail", "reasons": ["coverage fell"], "notes": []},
    ],
    "gates": [{"kpi": "active_series", "direction": "lower", "min_improvement": 0.2},
              {"kpi": "critical_coverage", "direction": "higher", "max_worsening": 0.0}],
    "missing": [], "computed_by": "controller", "computed_at": "2026-12-01T12:01:00+00:00",
    **WINDOW,
    "comparisons": [
        _comparison("baseline", "active_series", None, "", "baseline"),
        _comparison("slim", "active_series", -48.8),
        _comparison("slim", "critical_coverage", 0.0),
        _comparison("top5", "active_series", -70.0),
        _comparison("top5", "critical_coverage", -12.5, "fail"),
    ],
}  # fmt: skip
KPIS = {
    "experiment_id": ID, "computed_at": "2026-12-01T12:01:00+00:00", "source": "measurements",
    **WINDOW,
    "kpis": [
        _host_row("active_series", "baseline", "web-1", [100.0, 102.0, 104.0]),
        _host_row("active_series", "baseline", "web-2", [200.0, 202.0, 204.0], offset=0.4),
        _host_row("active_series", "slim", "web-1", [50.0, 51.0, 52.0]),
        _host_row("active_series", "slim", "web-2", [60.0, 61.0, 62.0], offset=0.7),
        {"variant": "baseline", "host": "*", "kpi": "host_balance", "unit": "%", "value": 100.0,
         "query": "", "details": {}, **WINDOW},
        {"variant": "slim", "host": "*", "kpi": "host_balance", "unit": "%", "value": 50.0,
         "query": "", "details": {}, **WINDOW},
    ],
}  # fmt: skip
GUARDRAIL = {
    "judged": True, "usage_sources": ["rules"],
    "candidates": [{
        "candidate": "slim", "queries_preserved": 50.0, "outcome": "fail",
        "counts": {"preserved": 1, "changed": 1}, "lost": ["alert HighCPU"],
        "queries": [
            {"subject": "alert `HighCPU`", "outcome": "changed", "finding": "lost 3 series",
             "query": "rate(x[5m])", "scoped_query": 'rate(x{variant="slim"}[5m])'},
            {"subject": "panel 'Requests'", "outcome": "preserved", "finding": "same",
             "query": "sum(y)", "scoped_query": 'sum(y{variant="slim"})'},
        ],
    }],
}  # fmt: skip
COST = {
    "price_book": "grafana-cloud-pro", "vendor": "Grafana", "meter": "active series",
    "currency": "USD", "source": "https://grafana.com/pricing", "taken": "2026-11-01",
    "note": "", "fleet_hosts": 1, "scrape_interval_seconds": None, **WINDOW,
    "variants": [
        {"variant": "baseline", "role": "baseline",
         "monthly": {"value": 10.0, "low": 9.0, "high": 11.0},
         "yearly": {"value": 120.0, "low": 108.0, "high": 132.0},
         "savings_monthly": None, "savings_yearly": None},
        {"variant": "slim", "role": "candidate",
         "monthly": {"value": 5.0, "low": 4.5, "high": 5.5},
         "yearly": {"value": 60.0, "low": 54.0, "high": 66.0},
         "savings_monthly": {"value": 5.0, "low": 4.0, "high": 6.0},
         "savings_yearly": {"value": 60.0, "low": 48.0, "high": 72.0}},
    ],
}  # fmt: skip
EVENTS = [
    {"id": 1, "type": "experiment.created", "actor": "user:olga", "experiment_id": ID,
     "host_id": None, "data": {"name": "drop pid"}, "created_at": "2026-12-01T11:40:00+00:00"},
    {"id": 2, "type": "experiment.completed", "actor": "controller", "experiment_id": ID,
     "host_id": None, "data": {"verdict": "pass"}, "created_at": "2026-12-01T12:01:00+00:00"},
]  # fmt: skip


def _record(state: str) -> dict[str, Any]:
    return {
        "id": ID, "state": state, "verdict": None, "verdict_reasons": None,
        "failure_reason": None, "created_by": "user:olga",
        "created_at": "2026-12-01T11:40:00+00:00", "state_changed_at": "2026-12-01T11:41:00+00:00",
        "spec": {"name": "drop pid", "description": "", "collector": "prometheus-agent",
                 "hosts": ["web-1", "web-2"], "host_selector": None,
                 "variants": [{"name": "baseline", "role": "baseline", "template": "baseline",
                               "variables": {}}]},
    }  # fmt: skip


def _client(state: str = "completed", role: str = "viewer", analysed: bool = True) -> FakeClient:
    answers: dict[str, Any] = {
        "verdicts": {ID: VERDICT}, "kpis": {ID: KPIS}, "guardrails": {ID: GUARDRAIL},
        "costs": {ID: COST},
    } if analysed else {}  # fmt: skip
    books = [{"name": "grafana-cloud-pro"}, {"name": "datadog"}]
    return FakeClient(records={ID: _record(state)}, events={ID: EVENTS}, role=role,
                      price_books=books, **answers)  # fmt: skip


# --- the series and their downsampling -------------------------------------------------------


def test_samples_are_long_and_the_median_over_hosts_is_taken_per_step() -> None:
    samples = kpi_samples(KPIS)
    assert len(samples) == 12 and set(samples["host"]) == {"web-1", "web-2"}
    assert kpi_units(samples) == {"active_series": "series"}
    series = kpi_series(samples)
    baseline = series[series["series"] == "baseline"]["v"].tolist()
    assert baseline == [150.0, 152.0, 154.0]  # web-2's offset 0.4 s falls in the same step
    per_host = kpi_series(samples, per_host=True)
    assert set(per_host["series"]) == {"baseline @ web-1", "baseline @ web-2", "slim @ web-1",
                                       "slim @ web-2"}  # fmt: skip
    assert kpi_series(kpi_samples({})).empty


@pytest.mark.parametrize("points", [3, 50, 600])
def test_lttb_keeps_both_ends_and_a_spike_and_bounds_the_count(points: int) -> None:
    rng = np.random.default_rng(1)
    t = T0 + np.arange(10_000) * 2.0
    v = rng.normal(100, 10, 10_000)
    v[5_000] = 1_000  # a spike LTTB keeps
    kept = lttb(t, v, points)
    assert len(kept) == points and list(kept) == sorted(set(kept))
    assert (kept[0], kept[-1]) == (0, 9_999)
    assert 5_000 in kept
    short = lttb(t[:10], v[:10], points)  # fewer points than asked: all of them
    assert list(short) == (list(range(10)) if points >= 10 else [0, *short[1:-1], 9])


def test_lttb_picks_the_largest_triangle_of_each_bucket() -> None:
    """Worked by hand: 6 points, 4 kept: buckets {1, 2} and {3, 4}. From (0, 0), with the
    next bucket's mean (3.5, 0.5), point 2 (2, 5) makes the largest triangle; from it, with
    the last point (5, 0), point 3 (3, -4) does."""
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    y = np.array([0.0, 1.0, 5.0, -4.0, 5.0, 0.0])
    assert list(lttb(x, y, 4)) == [0, 2, 3, 5]


def test_one_plot_per_kpi_titled_with_unit_sharing_one_time_range() -> None:
    samples = kpi_samples(KPIS)
    plots = KpiPlots(kpi_series(samples), kpi_units(samples), "the window")
    assert list(plots.plots) == ["active_series"]
    plot = plots.plots["active_series"]
    assert plot.title.text == "active_series (series)"
    assert plot.xaxis[0].axis_label == "time (UTC) · the window"
    assert [item.label.value for item in plot.legend[0].items] == ["baseline", "slim"]
    assert plot.x_range is plots.time_range
    assert KpiPlots(kpi_series(kpi_samples({})), {}, "").plots == {}


def test_a_zoom_shows_the_range_chosen_downsampled_from_the_full_series() -> None:
    t = pd.date_range("2026-12-06", periods=10_000, freq="2s", tz="UTC")
    v = np.sin(np.arange(10_000) / 50.0)
    series = pd.DataFrame({"kpi": "active_series", "series": "baseline", "t": t, "v": v})
    plots = KpiPlots(series, {"active_series": "series"}, "")
    source = plots.plots["active_series"].renderers[0].data_source
    ms = (t - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(milliseconds=1)
    assert len(source.data["t"]) == POINTS
    assert (source.data["t"][0], source.data["t"][-1]) == (ms[0], ms[-1])
    plots.time_range.update(start=ms[1_000], end=ms[1_100])  # 101 samples shown: all, and
    assert list(source.data["t"]) == list(ms[999:1_102])  # one either side (to the edges)
    assert list(source.data["v"]) == list(v[999:1_102])


# --- the scorecard and the verdict -----------------------------------------------------------


def test_scorecard_rows_equal_the_verdicts_comparisons_with_the_gates_lines() -> None:
    card = scorecard(VERDICT)
    compared = [c for c in VERDICT["comparisons"] if c["details"]["role"] == "candidate"]
    assert card[["candidate", "kpi", "change", "low", "high", "p_value", "query"]].to_dict(
        "records"
    ) == [
        {"candidate": c["variant"], "kpi": c["kpi"], "change": c["change_percent"],
         "low": c["ci_low"], "high": c["ci_high"], "p_value": c["p_value"], "query": c["query"]}
        for c in compared
    ]  # fmt: skip
    assert card["outcome"].tolist() == ["pass", "pass", "pass", "fail"]
    assert card["threshold"].tolist() == [-20.0, -0.0, -20.0, -0.0]
    assert gate_threshold({"direction": "higher", "min_improvement": 0.1}) == 10.0
    assert gate_threshold({"direction": "lower", "max_worsening": 0.05}) == 5.0
    assert gate_threshold({"direction": "lower", "ceiling": 3}) is None
    hv.render(scorecard_plot(card, "top5"))  # draws, a KPI without a change included


def test_the_verdict_in_words_names_outcome_winner_reasons_and_notes() -> None:
    words = verdict_words(VERDICT)
    assert "Verdict: **pass**" in words and "winner **slim**" in words
    assert "- slim keeps the gates" in words and "*note:* cpu within tolerance" in words
    assert "**top5**: fail" in words and "- coverage fell" in words


# --- host balance, guardrail, events, cost -------------------------------------------------


def test_host_balance_guardrail_and_events_tables() -> None:
    balance = host_balance_table(KPIS)
    assert balance[["variant", "value"]].values.tolist() == [["baseline", 100.0], ["slim", 50.0]]
    queries = guardrail_table(GUARDRAIL)
    assert queries["outcome"].tolist() == ["changed", "preserved"]
    assert queries["scoped_query"].iloc[0] == 'rate(x{variant="slim"}[5m])'
    events = events_table(EVENTS)
    assert events["type"].tolist() == ["experiment.completed", "experiment.created"]
    assert events["summary"].iloc[0] == "verdict: pass"


def test_the_cost_table_is_the_answer_per_variant_with_its_intervals() -> None:
    table = cost_table(COST)
    assert table["variant"].tolist() == ["baseline", "slim"]
    slim = table.iloc[1]
    assert (slim["monthly"], slim["monthly_low"], slim["monthly_high"]) == (5.0, 4.5, 5.5)
    assert (slim["savings_monthly"], slim["savings_low"], slim["savings_high"]) == (5.0, 4.0, 6.0)
    assert np.isnan(table.iloc[0]["savings_monthly"])  # none, not 0


# --- the buttons -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("may", "state", "expected"),
    [
        (["viewer"], "running", (False, False, False, False)),
        (["viewer"], "completed", (False, False, False, False)),
        (["viewer", "operator"], "draft", (True, True, False, False)),
        (["viewer", "operator"], "running", (True, False, True, False)),
        (["viewer", "operator"], "warming_up", (True, False, True, False)),
        (["viewer", "operator", "admin"], "completed", (True, False, False, True)),
        (["viewer", "operator"], "stopped", (True, False, False, False)),
    ],
)
def test_buttons_by_role_and_state(may: list[str], state: str, expected: tuple[bool, ...]) -> None:
    shown = actions(may, state)
    assert (shown.shown, shown.start, shown.stop, shown.analyse) == expected


# --- the page --------------------------------------------------------------------------------


def test_the_page_shows_every_section_of_an_analysed_experiment_to_a_viewer() -> None:
    page = ExperimentPage(_client(), experiment_id=ID)
    asyncio.run(page.refresh())
    assert page.state.phase == "ready"
    assert {n: s.phase for n, s in page.sections.items()} == dict.fromkeys(page.sections, "ready")
    assert page.verdict == VERDICT and page.cost["price_book"] == "grafana-cloud-pro"
    assert page.price_book == "grafana-cloud-pro"
    assert page.param.price_book.objects == ["grafana-cloud-pro", "datadog"]
    assert not any(b.visible for b in page._buttons.values())
    assert len(page._series.objects) == 1 and len(page._scorecards.objects) == 2  # (1 KPI)


def test_not_analysed_yet_is_an_empty_section_not_an_error() -> None:
    page = ExperimentPage(_client("running", analysed=False), experiment_id=ID)
    asyncio.run(page.refresh())
    assert page.state.phase == "ready"
    for name in ("verdict", "scorecard", "series", "balance", "guardrail", "cost"):
        assert page.sections[name].phase == "empty", name
        assert page.sections[name].message.startswith("Not analysed yet"), name
    assert page.sections["events"].phase == "ready"


def test_the_samples_are_read_again_only_when_the_analysis_changed() -> None:
    client = _client()
    page = ExperimentPage(client, experiment_id=ID)
    asyncio.run(page.refresh())
    asyncio.run(page.refresh())
    assert [c for c in client.calls if c[0] == "kpis"] == [("kpis", (ID, True))]


def test_a_chosen_price_book_and_fleet_size_are_asked_of_the_api() -> None:
    client = _client()
    page = ExperimentPage(client, experiment_id=ID)
    asyncio.run(page.refresh())
    page.param.update(price_book="datadog", fleet_hosts=250)
    asyncio.run(page.refresh())
    assert client.calls[-1] == ("cost", (ID, 250, "datadog", None))
    assert page.cost["price_book"] == "datadog" and page.cost["fleet_hosts"] == 250


def test_an_operator_stops_a_running_experiment_and_a_refusal_is_said_in_words() -> None:
    client = _client("running", role="operator", analysed=False)
    page = ExperimentPage(client, experiment_id=ID)
    asyncio.run(page.refresh())
    stop = page._buttons["stop"]
    assert stop.visible and not stop.disabled and page._buttons["start"].disabled
    asyncio.run(page._act("stop"))
    assert page.notice == "Stopping: the experiment is now stopping."
    assert page.record["state"] == "stopping"
    client.refuse["stop"] = Conflict("Experiment is 'stopping', not running.")
    asyncio.run(page._act("stop"))
    assert page.notice == "Could not stop: Experiment is 'stopping', not running."


def test_an_operator_re_analyses_a_completed_experiment() -> None:
    client = _client("completed", role="operator")
    page = ExperimentPage(client, experiment_id=ID)
    asyncio.run(page.refresh())
    assert not page._buttons["analyse"].disabled
    asyncio.run(page._act("analyse"))
    assert ("analyse", (ID,)) in client.calls
    assert page.notice == "Re-analysed at 2026-12-01 12:00:00 UTC: verdict pass, winner slim."
