"""The query guardrail against a real Prometheus holding data whose truth is known by hand.

One experiment, four variants on one host, 15 s apart scrapes of one source whose request rate
swings ±50 % over four minutes, so that two collectors scraping it a few seconds apart see
different values (as two real collectors do):

- ``baseline``: ``http_requests_total{job, pod, code}``, 4 pods x 3 codes = 12 series, scraped
  at :00;
- ``full`` keeps everything, scraped 11 s later;
- ``nopod`` dropped ``pod`` (each code's sum over the pods: 3 series), scraped 7 s later;
- ``topk3`` keeps the three busiest pods (p2, p3, p4; p1 serves a tenth of the requests),
  scraped 4 s later.

The source also renames its three ``app_sessions`` series 988 s after the first scrape, so at
the first evaluation time (1,000 s) the baseline (scraped at 990) shows the new names and
``full`` (scraped at 986, then 1,001) only the old ones. (Backfilled data has no staleness
markers: the old names linger five minutes on every variant, which changes nothing here.)
Every variant's collector writes its own ``process_cpu_seconds_total`` (job
``phoenix_collector``, a different rate for each), beside the source's; another experiment
writes the same metric names into the same receiver. The usage sources are
``tests/fixtures/guardrail``: a rule file (a recording rule, an alert by pod, an alert the
receiver refuses, one that does not parse) and a dashboard (requests by code, by pod, every
series, CPU, sessions, a Loki panel, a ``label_values`` variable).

By hand, per candidate, for the 8 queries that are compared:

| query | full | nopod | topk3 |
|---|---|---|---|
| recording rule `code:http_requests:rate5m` (sum by job, code) | = | = | values -10 % |
| alert `PodErrors` (count by pod, pod=~"p.+") | = | 0 series instead of 4 | p1 missing |
| panel 'Requests by code' | = | = | values -10 % |
| panel 'Requests by pod' | = | loses pod (4 become 1) | p1 missing |
| panel 'Every series' | = | loses pod (12 become 3) | 3 of 12 missing |
| panel 'CPU' (the source's process; never the collector's) | = | = | = |
| panel 'Sessions' (renamed between two scrapes) | = | = | = |
| variable `job` (label_values: the values of job) | = | = | = |
| **queries_preserved** | 8/8 = 100 % | 5/8 = 62.5 % | 3/8 = 37.5 % |

The alert `RequestsRatio` fails on the baseline (many-to-many matching), `Broken` does not
parse, the Loki panel is skipped: listed, not compared.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from phoenix_core.guardrail import GuardrailResult, evaluation_times, preserved_queries
from phoenix_core.metrics.reader import PrometheusReader
from phoenix_core.usage import queries_from_dashboard, queries_from_rules
from phoenix_core.usage.records import QueryUsage
from phoenix_core.wire.labels import EXPERIMENT, HOST, VARIANT
from support.backfill import Sample, prometheus_with

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "guardrail"
EXPERIMENT_ID = "exp-guardrail"
SCRAPE = 15
PODS = ["p1", "p2", "p3", "p4"]
CODE_RATES = {
    "200": 10.0,
    "404": 2.0,
    "500": 0.5,
}  # requests/s of pod p1; pod pN serves N times as many
PHASES = {"baseline": 0, "full": 11, "nopod": 7, "topk3": 4}
COLLECTOR_CPU = {"baseline": 0.05, "full": 0.06, "nopod": 0.02, "topk3": 0.03}
CANDIDATES = ["full", "nopod", "topk3"]
PERIOD, SWING = 240.0, 0.5
RENAMED = 988
"""Seconds after the first scrape when the source renames its sessions."""

START = (int(time.time()) - 45 * 60) // 60 * 60
"""The first scrape: the data lies in the past, and the window from 10 to 30 minutes after."""
WINDOW = (START + 600, START + 1800)


def counter(rate: float, at: float) -> float:
    """A counter whose rate swings between 0.5 and 1.5 times ``rate`` every four minutes."""
    u = at - START + 60
    return rate * (u + SWING * PERIOD / (2 * math.pi) * math.sin(2 * math.pi * u / PERIOD))


def variant_samples(
    variant: str, experiment: str = EXPERIMENT_ID, scale: float = 1.0
) -> list[Sample]:
    identity = {EXPERIMENT: experiment, VARIANT: variant, HOST: "web-1"}
    out: list[Sample] = []
    at = float(START + PHASES[variant])
    while at <= WINDOW[1] + 60:
        pods = PODS[1:] if variant == "topk3" else PODS
        for code, rate in CODE_RATES.items():
            per_pod = {
                p: counter(rate * scale * (i + 1), at) for i, p in enumerate(PODS) if p in pods
            }
            if variant == "nopod":
                labels = {"job": "app", "code": code, **identity}
                out.append(("http_requests_total", labels, sum(per_pod.values()), at))
            else:
                for pod, value in per_pod.items():
                    labels = {"job": "app", "pod": pod, "code": code, **identity}
                    out.append(("http_requests_total", labels, value, at))
        generation = 0 if at < START + RENAMED else 1
        for i in range(3):
            session = {"job": "app", "session": f"s{generation}-{i}", **identity}
            out.append(("app_sessions", session, 1.0, at))
        source_cpu = {"job": "app", **identity}
        out.append(("process_cpu_seconds_total", source_cpu, 0.5 * (at - START), at))
        collector = {"job": "phoenix_collector", **identity}
        out.append(
            ("process_cpu_seconds_total", collector, COLLECTOR_CPU[variant] * (at - START), at)
        )
        at += SCRAPE
    return out


@pytest.fixture(scope="module")
def reader() -> Iterator[PrometheusReader]:
    samples = [s for v in PHASES for s in variant_samples(v)]
    samples += variant_samples("baseline", experiment="exp-other", scale=3.0)
    with prometheus_with(samples) as server, PrometheusReader(server.url, timeout=10) as reader:
        yield reader


@pytest.fixture(scope="module")
def records() -> list[QueryUsage]:
    rules = (FIXTURES / "http-rules.yaml").read_text()
    dashboard = (FIXTURES / "http-dashboard.json").read_text()
    return [
        *queries_from_rules(rules, "http-rules.yaml"),
        *queries_from_dashboard(dashboard, "http-dashboard.json"),
    ]


def times() -> list[datetime]:
    start, end = (datetime.fromtimestamp(t, UTC) for t in WINDOW)
    return evaluation_times(start, end, points=3)


def findings_of(result: GuardrailResult, candidate: str) -> dict[str, tuple[str, str]]:
    rows = result.findings[result.findings["candidate"] == candidate]
    return {r.subject: (r.outcome, r.finding) for r in rows.itertuples()}


REC = "recording rule `code:http_requests:rate5m`"
POD_ERRORS = "alert `PodErrors`"
RATIO = "alert `RequestsRatio`"
BROKEN = "alert `Broken`"
BY_CODE = "panel 'Requests by code' of dashboard 'HTTP'"
BY_POD = "panel 'Requests by pod' of dashboard 'HTTP'"
EVERY = "panel 'Every series' of dashboard 'HTTP'"
CPU = "panel 'CPU' of dashboard 'HTTP'"
SESSIONS = "panel 'Sessions' of dashboard 'HTTP'"
LOGS = "panel 'Errors' of dashboard 'HTTP'"
JOB_VARIABLE = "variable `job` of dashboard 'HTTP'"


def test_which_dashboards_and_alerts_lose_data(
    reader: PrometheusReader, records: list[QueryUsage]
) -> None:
    result = preserved_queries(reader, EXPERIMENT_ID, "baseline", CANDIDATES, times(), records)

    kpi = result.kpi.set_index("candidate")
    assert kpi.loc["full", "queries_preserved"] == 100.0
    assert kpi.loc["nopod", "queries_preserved"] == 62.5
    assert kpi.loc["topk3", "queries_preserved"] == 37.5
    assert kpi["compared"].tolist() == [8, 8, 8]
    assert kpi["failed"].tolist() == [1, 1, 1]
    assert kpi["not_evaluated"].tolist() == [2, 2, 2]
    assert kpi["no_data"].tolist() == [0, 0, 0]
    assert kpi["queries"].tolist() == [11, 11, 11]

    full = findings_of(result, "full")
    assert {s for s, (outcome, _) in full.items() if outcome == "preserved"} == {
        REC,
        POD_ERRORS,
        BY_CODE,
        BY_POD,
        EVERY,
        CPU,
        SESSIONS,
        JOB_VARIABLE,
    }
    assert full[EVERY][1] == (
        "at 3 evaluation times: the same 12 series; values within 1 % (max relative difference 0 %)"
    )

    nopod = findings_of(result, "nopod")
    assert result.lines("nopod") == [
        "alert `PodErrors`: returns 0 series instead of 4",
        "panel 'Requests by pod' of dashboard 'HTTP': loses label `pod` (4 series become 1)",
        "panel 'Every series' of dashboard 'HTTP': loses label `pod` (12 series become 3)",
    ]
    for preserved in (REC, BY_CODE, CPU, SESSIONS, JOB_VARIABLE):
        assert nopod[preserved][0] == "preserved", nopod[preserved]

    topk3 = findings_of(result, "topk3")
    assert topk3[POD_ERRORS] == ("changed", '1 of 4 series missing: {pod="p1"}')
    assert topk3[BY_POD] == ("changed", '1 of 4 series missing: {pod="p1"}')
    assert topk3[EVERY][1].startswith(
        '3 of 12 series missing: {code="200", job="app", phoenix_host="web-1", pod="p1"}, '
    )
    for lossy in (REC, BY_CODE):
        outcome, finding = topk3[lossy]
        assert outcome == "changed"
        assert finding.startswith("values differ on 3 of 3 series (relative difference "), finding
        assert "tolerance 1 %" in finding
    # p1 is a tenth of every code's requests: the sums are 10 % low, less what the baseline's
    # own swing within one scrape interval covers
    by_candidate = result.findings.set_index(["candidate", "subject"])
    assert 0.05 < float(by_candidate.loc[("topk3", BY_CODE), "max_difference"]) < 0.1

    for candidate in CANDIDATES:
        found = findings_of(result, candidate)
        assert found[RATIO][0] == "failed"
        assert found[RATIO][1].startswith("not compared: the baseline's query fails: ")
        assert (
            "many-to-many matching not allowed" in found[RATIO][1]
            or "duplicate series" in found[RATIO][1]
        )
        assert found[BROKEN] == (
            "not_evaluated",
            "not evaluated: the query does not parse: unclosed left parenthesis",
        )
        assert found[LOGS] == (
            "not_evaluated",
            "not evaluated: skipped: datasource type 'loki' is not Prometheus",
        )


def test_a_faithful_candidate_needs_both_sides_around_the_evaluation_time(
    reader: PrometheusReader, records: list[QueryUsage]
) -> None:
    """Compared at the evaluation time alone, the full copy's rates are off by up to ~2 % (its
    samples are 11 s later), and it has not yet seen the sessions' new names. Each side's
    results one scrape interval either side of the time cover both."""
    exact = preserved_queries(
        reader, EXPERIMENT_ID, "baseline", ["full"], times(), records, scrape_interval=0
    )
    lines = exact.lines("full")
    assert any(line.startswith(f"{EVERY}: values differ on 12 of 12 series") for line in lines)
    assert f"{SESSIONS}: 3 of 6 series missing: " in "\n".join(lines)
    assert any(line.endswith("(at 1 of 3 evaluation times)") for line in lines if SESSIONS in line)
    assert exact.value("full") < 100.0


def test_the_collectors_own_metrics_are_never_read(
    reader: PrometheusReader, records: list[QueryUsage]
) -> None:
    """Each collector's CPU differs; a query that read them would flag every candidate."""
    cpu = [r for r in records if r.expanded == "sum(rate(process_cpu_seconds_total[5m]))"]
    with_collectors = preserved_queries(
        reader, EXPERIMENT_ID, "baseline", CANDIDATES, times(), cpu, exclude={}
    )
    assert with_collectors.kpi["queries_preserved"].tolist() == [0.0, 0.0, 0.0]
    assert with_collectors.lines("nopod")[0].startswith(f"{CPU}: value ")
    scoped_right = preserved_queries(reader, EXPERIMENT_ID, "baseline", CANDIDATES, times(), cpu)
    assert scoped_right.kpi["queries_preserved"].tolist() == [100.0, 100.0, 100.0]
    assert 'job!="phoenix_collector"' in scoped_right.findings["scoped_query"].iloc[0]
