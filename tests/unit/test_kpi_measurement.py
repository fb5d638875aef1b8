"""Measuring without a Prometheus: answers into frames (no data kept apart from 0), the derived
KPIs computed in pandas, and ``measure`` over an in-memory reader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from prometheus_api_client.exceptions import PrometheusApiClientException

from phoenix_core.errors import ValidationFailed
from phoenix_core.metrics import derived
from phoenix_core.metrics.catalog import QueryScope, builtin_catalog
from phoenix_core.metrics.derived import ALL_HOSTS, KPI_COLUMNS, cache_samples
from phoenix_core.metrics.measurement import critical_query, measure
from phoenix_core.metrics.reader import StaticReader, _refusal, has_data, to_frame

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CATALOG = builtin_catalog()


def _series(variant: str, host: str, values: list[Any], **labels: str) -> dict[str, Any]:
    metric = {"phoenix_variant": variant, "phoenix_host": host, **labels}
    start = T0.timestamp() + 20
    return {"metric": metric, "values": [[start + i, str(v)] for i, v in enumerate(values)]}


# --- frames ------------------------------------------------------------------------------------


def test_a_matrix_becomes_one_row_per_sample_labels_as_columns() -> None:
    frame = to_frame([_series("b", "h1", [1, 2]), _series("c", "h1", ["NaN"], extra="x")])
    assert list(frame.columns) == ["extra", "phoenix_host", "phoenix_variant", "timestamp", "value"]
    assert list(frame["extra"]) == ["", "", "x"]  # absent label: ""
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert frame["value"].iloc[:2].tolist() == [1.0, 2.0]
    assert pd.isna(frame["value"].iloc[2])


def test_no_data_is_not_zero() -> None:
    empty = to_frame([])
    assert list(empty.columns) == ["timestamp", "value"] and not has_data(empty)
    nan = to_frame([{"metric": {}, "value": [1.0, "NaN"]}])
    assert len(nan) == 1 and not has_data(nan)
    zero = to_frame([{"metric": {}, "value": [1.0, "0"]}])
    assert has_data(zero) and zero["value"].tolist() == [0.0]
    scalar = to_frame([1.0, "3"])
    assert scalar["value"].tolist() == [3.0]


def test_prometheus_own_error_is_read_out_of_the_clients_message() -> None:
    body = b'{"status":"error","errorType":"bad_data","error":"1:8: parse error: unexpected"}'
    error = PrometheusApiClientException(f"HTTP Status Code 400 ({body!r})")
    assert _refusal(error) == "HTTP Status Code 400: bad_data: 1:8: parse error: unexpected"
    odd = PrometheusApiClientException("HTTP Status Code 502 (b'<html>bad gateway</html>')")
    assert _refusal(odd) == "HTTP Status Code 502 (b'<html>bad gateway</html>')"


# --- derived -----------------------------------------------------------------------------------


def _critical(variant: str, host: str, pid: str) -> dict[str, str]:
    return {
        "__name__": "process_open_fds",
        "process": "kubelet",
        "pid": pid,
        "job": "app",
        "phoenix_experiment_id": "e",
        "phoenix_variant": variant,
        "phoenix_host": host,
    }


def test_critical_coverage_compares_label_sets_without_identity() -> None:
    series = pd.DataFrame(
        [
            _critical("baseline", "h1", "1"),
            _critical("baseline", "h1", "2"),
            _critical("top", "h1", "1"),
            _critical("top", "h1", "3"),  # not the baseline's: covers nothing
            _critical("top", "h2", "1"),  # h2: the baseline has none there
        ]
    )
    pairs = [(v, h) for v in ("baseline", "top", "gone") for h in ("h1", "h2")]
    coverage = derived.critical_coverage(series, "baseline", pairs, at=T0)
    assert list(coverage.columns) == list(KPI_COLUMNS)
    got = {(r.variant, r.host): r.value for r in coverage.itertuples()}
    assert got == {("baseline", "h1"): 100.0, ("top", "h1"): 50.0, ("gone", "h1"): 0.0}


def test_host_balance_counts_hosts_that_delivered() -> None:
    active = pd.DataFrame(
        [
            ("active_series", "baseline", "h1", T0, 10.0),
            ("active_series", "baseline", "h2", T0, 10.0),
            ("active_series", "top", "h1", T0, 4.0),
            ("active_series", "top", "h2", T0, 0.0),  # 0 series: not delivering
        ],
        columns=list(KPI_COLUMNS),
    )
    balance = derived.host_balance(active, ["baseline", "top", "gone"], ["h1", "h2"], at=T0)
    got = {r.variant: r.value for r in balance.itertuples()}
    assert got == {"baseline": 100.0, "top": 50.0, "gone": 0.0}
    assert set(balance["host"]) == {ALL_HOSTS}


def test_cache_samples_rate_a_counter_across_a_restart_and_keep_a_gauge() -> None:
    rows = pd.DataFrame(
        [
            ("phoenix_collector_cpu_seconds_total", "b", "h1", T0, 10.0),
            ("phoenix_collector_cpu_seconds_total", "b", "h1", T0 + timedelta(seconds=10), 12.0),
            ("phoenix_collector_cpu_seconds_total", "b", "h1", T0 + timedelta(seconds=20), 1.0),
            ("phoenix_collector_rss_bytes", "b", "h1", T0, 5e7),
            ("phoenix_collector_rss_bytes", "b", "h1", T0 - timedelta(hours=1), 1.0),  # before
            ("phoenix_load_cpu_seconds_total", "b", "h1", T0, 3.0),  # not a KPI
        ],
        columns=list(derived.CACHE_COLUMNS),
    )
    samples = cache_samples(CATALOG, rows, T0, T0 + timedelta(minutes=1))
    cpu = samples[samples["kpi"] == "collector_cpu_cores"]["value"].tolist()
    assert cpu == [0.2, 0.1]  # 2 s in 10 s; after the restart 1 s in 10 s
    assert samples[samples["kpi"] == "collector_rss_bytes"]["value"].tolist() == [5e7]
    assert cache_samples(CATALOG, rows.iloc[:0], T0, T0).empty


# --- measure over an in-memory reader ----------------------------------------------------------


def _answer(query: str) -> list[dict[str, Any]]:
    """Two variants on h1; the candidate's lag is 0/0; nothing at all on h2."""
    if query.startswith("last_over_time({process="):
        return [
            {"metric": _critical("baseline", "h1", "1"), "value": [0, "1"]},
            {"metric": _critical("candidate", "h1", "2"), "value": [0, "1"]},
        ]
    if "http_client_request_duration" in query:
        return [_series("baseline", "h1", [0.01, 0.02]), _series("candidate", "h1", ["NaN"])]
    if "phoenix_collector_cpu" in query or "process_cpu" in query:
        raise AssertionError("the metrics cache KPIs are not queried by default")
    return [_series("baseline", "h1", [4, 4]), _series("candidate", "h1", [0, 0])]


def test_measure_runs_each_query_once_and_says_what_has_no_data() -> None:
    reader = StaticReader(_answer)
    measured = measure(
        reader,
        CATALOG,
        experiment_id="e",
        collector_kind="otelcol",
        jobs=["app"],
        window_start=T0,
        window_end=T0 + timedelta(seconds=60),
        step=5,
        variants=["baseline", "candidate"],
        hosts=["h1", "h2"],
        baseline="baseline",
        critical_selectors=['{process="kubelet"}'],
    )
    queried = {"active_series", "samples_per_second", "bytes_per_second", "failed_samples"}
    queried |= {"dropped_samples", "export_errors", "remote_write_lag_seconds"}
    assert len(reader.asked) == len(queried) + 1  # + the critical series
    assert set(measured.queries) == {*queried, "retried_samples", "host_balance"} | {
        "critical_coverage"
    }
    assert measured.queries["retried_samples"].startswith("not measured on otelcol: ")
    samples = measured.samples
    assert list(samples.columns) == list(KPI_COLUMNS) and samples["value"].notna().all()
    zero = samples[(samples["kpi"] == "failed_samples") & (samples["variant"] == "candidate")]
    assert zero["value"].tolist() == [0.0, 0.0]  # a real 0, kept

    missing = {(r.kpi, r.variant, r.host): r.reason for r in measured.missing.itertuples()}
    assert missing[("remote_write_lag_seconds", "candidate", "h1")] == "only NaN values (0/0)"
    assert missing[("active_series", "baseline", "h2")] == "no series matched"
    assert str(missing[("retried_samples", "baseline", "h1")]).startswith("not measured on otel")
    assert missing[("critical_coverage", "candidate", "h2")] == (
        "the baseline delivered no critical series on host h2"
    )
    assert ("host_balance", "candidate", ALL_HOSTS) not in missing
    balance = samples[samples["kpi"] == "host_balance"].set_index("variant")["value"]
    assert balance.to_dict() == {"baseline": 50.0, "candidate": 0.0}  # candidate: 0 series
    coverage = samples[samples["kpi"] == "critical_coverage"].set_index("variant")["value"]
    assert coverage.to_dict() == {"baseline": 100.0, "candidate": 0.0}
    required = measured.missing_required(CATALOG)
    assert "retried_samples" not in set(required["kpi"])


def test_measure_refuses_a_window_shorter_than_its_lookback() -> None:
    with pytest.raises(ValidationFailed, match=r"window_end: the window \(10 s\) is shorter"):
        measure(
            StaticReader(_answer),
            CATALOG,
            experiment_id="e",
            collector_kind="prometheus-agent",
            jobs=["app"],
            window_start=T0,
            window_end=T0 + timedelta(seconds=10),
            step=5,
        )


def test_critical_selectors_get_the_experiments_matchers_escaped() -> None:
    query = critical_query(
        ['process_open_fds{process="a\\"b", pid!~"9.*"}', "{job='x'}"], QueryScope("e", ["app"], 60)
    )
    first, second = query.split(" or ")
    assert first.startswith(
        'last_over_time({__name__="process_open_fds",process="a\\"b",pid!~"9.*",'
        'phoenix_experiment_id="e",job=~"app",__name__!~"'
    )
    assert first.endswith('"}[60s])')
    assert second.startswith('last_over_time({job="x",phoenix_experiment_id="e"')
