"""Analysis end to end: an A/B/n experiment on a source whose every series is known runs to
``completed`` by itself, through the real API, controller, agent, prometheus-agent collectors
and receiving Prometheus; its KPIs equal the truth, its verdict and cost come from them, and a
recompute from the stored samples gives the same answer.

The truth (``support.ground_truth``): each variant delivers a known number of series, and every
critical series reaches every variant."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from support import ground_truth
from support.processes import run_cli
from support.world import World, until

SCRAPE = 2.0
DURATION = 36.0  # (36 s - the 8 s lookback) / 2 s + 1 = 15 points a variant, at least 11
FLEET = 1000
REQUESTS, LATENCY = ground_truth.REQUESTS, ground_truth.LATENCY
QUERIES = [
    f"sum by (code) ({REQUESTS})",  # every service and code: changed wherever one is dropped
    f'{LATENCY}{{service="svc-00"}}',  # the busiest service's latency on its 8 hosts
    f'count({REQUESTS}{{service="svc-14",code="503"}})',  # the critical series: kept by all
    f"sum({LATENCY})",
]
USAGE = {"name": "truth-queries", "kind": "queries", "content": "\n".join(QUERIES) + "\n"}
OUTCOMES = {  # each query's outcome, in QUERIES' order, as PRESERVED works them out
    "top5": ["changed", "preserved", "preserved", "changed"],
    "floor": ["changed", "preserved", "preserved", "preserved"],
    "nolatency": ["preserved", "changed", "preserved", "changed"],
    "ok-codes": ["changed", "preserved", "preserved", "preserved"],
}
PRESERVED = {  # worked out from support.ground_truth's candidates, query by query
    "top5": 50.0,  # 1 changed (other services' requests); 4 changed (their latency)
    "floor": 75.0,  # 1 changed (requests under the threshold); latency untouched
    "nolatency": 50.0,  # 2 and 4 lose every latency series
    "ok-codes": 75.0,  # 1 changed (codes other than 2xx, but the critical 503s)
}


@pytest.fixture
def analysed(postgres_url: str, tmp_path: Path) -> Iterator[Any]:
    with ExitStack() as stack:
        world = World(
            stack,
            postgres_url,
            tmp_path,
            ground_truth.source(),
            scrape_interval_seconds=SCRAPE,
        )
        until(lambda: world.operator.get("/api/v1/hosts").json(), "the agent enrolled")
        uploaded = world.operator.post("/api/v1/usage-sources", json=USAGE)
        assert uploaded.status_code == 201, uploaded.text
        experiment = world.start_experiment(
            name="analysis of the ground truth",
            variants=ground_truth.candidates(),
            sources=[{"name": "truth", "kind": "scrape", "address": world.exporter}],
            critical_selectors=[ground_truth.CRITICAL_SELECTOR],
            usage_sources=[USAGE["name"]],
            warmup_seconds=1,
            duration_seconds=DURATION,
        )
        until(lambda: world.state_of(experiment) == "completed", "completed", timeout=240)
        yield world, experiment


def _get(world: World, path: str, **params: Any) -> Any:
    answer = world.operator.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _rows(rows: list[dict[str, Any]], kpi: str, host: str | None) -> dict[str, dict[str, Any]]:
    return {r["variant"]: r for r in rows if r["kpi"] == kpi and r["host"] == host}


def _the_experiment_completes_with_a_verdict_from_its_measurements(analysed: Any) -> None:
    world, experiment = analysed
    record = _get(world, f"/api/v1/experiments/{experiment}")
    assert record["verdict"] in ("pass", "fail", "inconclusive")
    assert record["verdict_reasons"] and "no analyzer" not in " ".join(record["verdict_reasons"])
    verdict = _get(world, f"/api/v1/experiments/{experiment}/verdict")
    assert verdict["outcome"] == record["verdict"]
    assert verdict["reasons"] == record["verdict_reasons"]
    window = record["measurement_window"]
    assert verdict["window_start"] == window["start"] and verdict["window_end"] == window["end"]
    assert {c["variant"] for c in verdict["candidates"]} == set(ground_truth.expected()) - {
        "baseline"
    }
    assert verdict["source"] == "measurements"


def _the_kpis_equal_the_truth(analysed: Any) -> None:
    world, experiment = analysed
    expected = {variant: len(series) for variant, series in ground_truth.expected().items()}
    table = _get(world, f"/api/v1/experiments/{experiment}/kpis", samples="true")
    rows = table["kpis"]
    per_host = _rows(rows, "active_series", "web-1")
    assert {v: r["value"] for v, r in per_host.items()} == expected
    for row in per_host.values():  # every point of the window saw exactly the truth
        assert set(row["details"]["samples"]["v"]) == {expected[row["variant"]]}
        assert row["details"]["n"] >= 11
        assert row["unit"] == "series" and 'job=~"truth"' in row["query"]
        assert row["window_start"] == table["window_start"]
    verdict_rows = _rows(rows, "active_series", None)
    base = expected["baseline"]
    for variant, count in expected.items():
        if variant == "baseline":
            assert verdict_rows[variant]["value"] == base
            continue
        change = (count / base - 1) * 100
        assert math.isclose(verdict_rows[variant]["change_percent"], change, abs_tol=1e-9)
        assert math.isclose(verdict_rows[variant]["ci_low"], change, abs_tol=1e-9)  # constant
    coverage = _rows(rows, "critical_coverage", "web-1")
    assert {v: r["value"] for v, r in coverage.items()} == dict.fromkeys(expected, 100.0)
    balance = _rows(rows, "host_balance", "*")
    assert {v: r["value"] for v, r in balance.items()} == dict.fromkeys(expected, 100.0)
    samples = _rows(rows, "samples_per_second", "web-1")
    for variant, count in expected.items():  # a sample per series per scrape
        assert math.isclose(samples[variant]["value"], count / SCRAPE, rel_tol=0.05), variant
    cpu = _rows(rows, "collector_cpu_cores", "web-1")  # from the agents' metrics cache
    assert all(r["value"] is not None and r["value"] >= 0 for r in cpu.values())
    assert all(r["query"].startswith("metrics cache:") for r in cpu.values())
    plain = _get(world, f"/api/v1/experiments/{experiment}/kpis")
    assert all("samples" not in r["details"] for r in plain["kpis"])


def _cost_is_priced_from_the_measured_series(analysed: Any) -> None:
    world, experiment = analysed
    expected = {variant: len(series) for variant, series in ground_truth.expected().items()}
    cost = _get(
        world,
        f"/api/v1/experiments/{experiment}/cost",
        price_book="datadog-custom-metrics",
        fleet_hosts=FLEET,
    )
    assert (cost["price_book"], cost["currency"], cost["fleet_hosts"]) == (
        "datadog-custom-metrics",
        "USD",
        FLEET,
    )
    by_variant = {v["variant"]: v for v in cost["variants"]}

    def monthly(series: int) -> float:  # by hand: $5 per 100 custom metrics beyond 100 a host
        return max(series * FLEET - 100 * FLEET, 0) * 5.0 / 100

    for variant, count in expected.items():
        got = by_variant[variant]
        assert math.isclose(got["monthly"]["value"], monthly(count), rel_tol=1e-9), variant
        assert math.isclose(got["yearly"]["value"], 12 * monthly(count), rel_tol=1e-9)
        if variant != "baseline":
            saves = monthly(expected["baseline"]) - monthly(count)
            assert math.isclose(got["savings_monthly"]["value"], saves, rel_tol=1e-9)


def _bad_cost_requests_name_the_field(analysed: Any) -> None:
    world, experiment = analysed
    path = f"/api/v1/experiments/{experiment}/cost"
    unknown = world.operator.get(path, params={"fleet_hosts": 10, "price_book": "no-such-book"})
    assert unknown.status_code == 404, unknown.text
    assert "no-such-book" in unknown.json()["detail"]
    zero = world.operator.get(path, params={"fleet_hosts": 0})
    assert zero.status_code == 422
    assert any(e["loc"][-1] == "fleet_hosts" for e in zero.json()["errors"]), zero.text


def _a_recompute_from_the_stored_samples_gives_the_same_verdict(analysed: Any) -> None:
    world, experiment = analysed
    before = _get(world, f"/api/v1/experiments/{experiment}/verdict")
    guardrail_before = _get(world, f"/api/v1/experiments/{experiment}/guardrail")
    answer = world.operator.post(
        f"/api/v1/experiments/{experiment}/analysis", json={"source": "stored"}
    )
    assert answer.status_code == 200, answer.text
    after = answer.json()
    assert after["source"] == "stored"
    assert (after["outcome"], after["winner"], after["reasons"]) == (
        before["outcome"],
        before["winner"],
        before["reasons"],
    )
    strip = ("computed_at",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in after["comparisons"]] == [
        {k: v for k, v in r.items() if k not in strip} for r in before["comparisons"]
    ]
    assert datetime.fromisoformat(after["computed_at"]) > datetime.fromisoformat(
        before["computed_at"]
    )
    guardrail = _get(world, f"/api/v1/experiments/{experiment}/guardrail")
    assert guardrail["candidates"] == guardrail_before["candidates"]  # kept with the samples
    again = world.operator.post(
        f"/api/v1/experiments/{experiment}/analysis", json={"source": "measurements"}
    )
    assert again.status_code == 200, again.text
    measured = again.json()
    assert measured["source"] == "measurements"
    series = _rows(measured["comparisons"], "active_series", None)
    assert series == _rows(before["comparisons"], "active_series", None)  # the truth, again
    events = _get(world, f"/api/v1/experiments/{experiment}/events")["items"]
    sources = [e["data"]["source"] for e in events if e["type"] == "experiment_analysed"]
    assert sources == ["stored", "measurements"]
    draft = world.operator.post(
        "/api/v1/experiments",
        json=_get(world, f"/api/v1/experiments/{experiment}")["spec"] | {"name": "a draft"},
    )
    assert draft.status_code == 201, draft.text
    early = world.operator.post(f"/api/v1/experiments/{draft.json()['id']}/analysis", json={})
    assert early.status_code == 409 and "once it has completed" in early.json()["detail"]
    bad = world.operator.post(
        f"/api/v1/experiments/{experiment}/analysis", json={"source": "sideways"}
    )
    assert bad.status_code == 422
    assert any(e["loc"][-1] == "source" for e in bad.json()["errors"]), bad.text


def _the_cli_reports_it(analysed: Any) -> None:
    world, experiment = analysed
    token = world.operator.headers["Authorization"].split()[1]
    env = {"PHOENIX_API_URL": world.url, "PHOENIX_TOKEN": token}
    expected = {variant: len(series) for variant, series in ground_truth.expected().items()}
    options = ["--price-book", "datadog-custom-metrics", "--fleet-hosts", str(FLEET)]
    report = run_cli("phoenix", ["experiment", "report", experiment, *options], env)
    assert report.returncode == 0, report.stderr
    out = report.stdout
    verdict = _get(world, f"/api/v1/experiments/{experiment}/verdict")
    assert out.startswith(f"Verdict: {verdict['outcome'].upper()}"), out
    for variant, count in expected.items():
        if variant == "baseline":
            continue
        change = (count / expected["baseline"] - 1) * 100
        base = expected["baseline"]
        row = rf"^active_series\s+series\s+{variant}\s+{base}\s+{count}\s+{change:+.1f}%"
        assert re.search(row, out, re.MULTILINE), (row, out)
    assert "Reasons:" in out and verdict["reasons"][0] in out
    assert "Cost under datadog-custom-metrics" in out and f"projected on {FLEET:,} hosts" in out
    as_json = run_cli("phoenix", ["experiment", "report", experiment, "--output", "json"], env)
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["verdict"]["outcome"] == verdict["outcome"]
    assert document["cost"]["price_book"] == "grafana-cloud-pro"  # the default book
    unknown = run_cli("phoenix", ["experiment", "report", experiment, "--price-book", "nope"], env)
    assert unknown.returncode == 0, unknown.stderr  # the verdict stands; the cost says why not
    assert "Cost: not computed" in unknown.stdout and "nope" in unknown.stdout
    watched = run_cli("phoenix", ["experiment", "watch", experiment], env)
    assert watched.returncode == 0, watched.stderr
    assert "analyzing -> completed" in watched.stdout
    assert f"Verdict: {verdict['outcome'].upper()}" in watched.stdout  # ends with the report


def _the_queries_of_its_usage_sources_are_compared(analysed: Any) -> None:
    """queries_preserved per candidate (host "*"), its findings in the candidates' notes, and
    its gate (100 %) failing every candidate that loses a query."""
    world, experiment = analysed
    rows = _get(world, f"/api/v1/experiments/{experiment}/kpis")["kpis"]
    preserved = _rows(rows, "queries_preserved", "*")
    assert {v: r["value"] for v, r in preserved.items()} == {"baseline": 100.0, **PRESERVED}
    assert "the 4 queries of truth-queries" in preserved["top5"]["query"]
    verdict = _get(world, f"/api/v1/experiments/{experiment}/verdict")
    notes = {c["variant"]: c["notes"] for c in verdict["candidates"]}
    lost = "queries_preserved: query at truth-queries:2: returns 0 series instead of 8"
    assert lost in notes["nolatency"], notes["nolatency"]
    floor = [n for n in notes["floor"] if n.startswith("queries_preserved: ")]
    assert [n.split(": ", 2)[1] for n in floor] == ["query at truth-queries:1"], floor
    reasons = {c["variant"]: " ".join(c["reasons"]) for c in verdict["candidates"]}
    assert all("queries_preserved" in reasons[v] for v in PRESERVED), reasons

    report = _get(world, f"/api/v1/experiments/{experiment}/guardrail")
    assert (report["judged"], report["usage_sources"]) == (True, [USAGE["name"]])
    table = {c["candidate"]: c for c in report["candidates"]}
    assert {v: c["queries_preserved"] for v, c in table.items()} == PRESERVED
    assert {v: [q["outcome"] for q in c["queries"]] for v, c in table.items()} == OUTCOMES
    assert {v: c["outcome"] for v, c in table.items()} == dict.fromkeys(PRESERVED, "fail")
    for variant, candidate in table.items():
        assert [q["query"] for q in candidate["queries"]] == QUERIES
        assert [q["subject"] for q in candidate["queries"]] == [
            f"query at truth-queries:{line}" for line in range(1, 5)
        ]
        assert all(
            f'phoenix_variant="{variant}"' in q["scoped_query"] for q in candidate["queries"]
        )
        assert candidate["lost"] == [
            f"{q['subject']}: {q['finding']}"
            for q in candidate["queries"]
            if q["outcome"] == "changed"
        ]
    lost = table["nolatency"]["queries"][1]
    assert (lost["baseline_series"], lost["candidate_series"]) == (8, 0)  # svc-00's 8 hosts
    assert lost["finding"] == "returns 0 series instead of 8"
    kpis = _get(world, f"/api/v1/experiments/{experiment}/kpis")["kpis"]
    assert not [r for r in kpis if "queries" in r["details"]]  # the table is …/guardrail's


def test_an_experiment_is_analysed_end_to_end(analysed: Any) -> None:
    """One experiment (a minute and a half of real collectors), every check on it in turn."""
    _the_experiment_completes_with_a_verdict_from_its_measurements(analysed)
    _the_kpis_equal_the_truth(analysed)
    _the_queries_of_its_usage_sources_are_compared(analysed)
    _cost_is_priced_from_the_measured_series(analysed)
    _bad_cost_requests_name_the_field(analysed)
    _a_recompute_from_the_stored_samples_gives_the_same_verdict(analysed)
    _the_cli_reports_it(analysed)
