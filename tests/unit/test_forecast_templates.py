"""The forecast of every template on a small inventory, against expectations worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from phoenix_core.pipelines.simulator import forecast
from phoenix_core.pipelines.templates import TemplateLibrary

LIBRARY = TemplateLibrary.builtin()


def _inventory() -> pd.DataFrame:
    """Four processes with two pids each on two metrics, plus a metric without those labels.

    process_cpu_seconds_total:      kubelet 1+1=2, nginx 5+4=9, java 7+0.5=7.5, cron 0.001+0=0.001
    """
    rows = []
    cpu = {
        ("kubelet", "1"): 1.0,
        ("kubelet", "2"): 1.0,
        ("nginx", "3"): 5.0,
        ("nginx", "4"): 4.0,
        ("java", "5"): 7.0,
        ("java", "6"): 0.5,
        ("cron", "7"): 0.001,
        ("cron", "8"): 0.0,
    }
    for (process, pid), value in cpu.items():
        rows.append(
            {
                "__name__": "process_cpu_seconds_total",
                "process": process,
                "pid": pid,
                "job": "node",
                "__value__": value,
            }
        )
        rows.append(
            {
                "__name__": "process_open_fds",
                "process": process,
                "pid": pid,
                "job": "node",
                "__value__": 10.0,
            }
        )
    rows.append({"__name__": "node_load1", "job": "node", "__value__": 0.7})
    return pd.DataFrame(rows).fillna("")


def _set(frame: pd.DataFrame, *columns: str) -> set[tuple[str, ...]]:
    return {tuple(str(row[c]) for c in columns) for row in frame.to_dict("records")}


def test_baseline_changes_nothing() -> None:
    result = forecast(LIBRARY.get("baseline").render(), _inventory())
    assert result.output_series == result.input_series == 17
    assert result.waterfall().empty


def test_top_k_keeps_the_best_processes_on_every_process_metric() -> None:
    # k=2 by summed cpu: nginx (9) and java (7.5); applies to process_.* → 2×2 pids × 2 metrics
    result = forecast(LIBRARY.get("top-k").render({"k": 2}), _inventory())
    assert _set(result.series, "__name__", "process") == {
        ("process_cpu_seconds_total", "nginx"),
        ("process_cpu_seconds_total", "java"),
        ("process_open_fds", "nginx"),
        ("process_open_fds", "java"),
        ("node_load1", ""),
    }
    assert result.output_series == 9
    assert result.effects[0].keep_values == ("java", "nginx")


def test_top_k_protects_critical_series() -> None:
    rendered = LIBRARY.get("top-k").render({"k": 1, "critical": ['{process="kubelet"}']})
    result = forecast(rendered, _inventory())
    # nginx (best) on both metrics × 2 pids, kubelet protected on both × 2 pids, node_load1
    assert _set(result.series, "process") == {("nginx",), ("kubelet",), ("",)}
    assert result.output_series == 9
    assert result.protected == 4
    assert list(result.waterfall()["removed"]) == [0, 8]


def test_adaptive_filter_drops_the_idle() -> None:
    # cpu below 0.01: cron pid 7 (0.001) and cron pid 8 (0.0); open_fds untouched
    result = forecast(LIBRARY.get("adaptive-filter").render(), _inventory())
    assert result.output_series == 15
    dropped = result.effects[0].dropped_series
    assert dropped is not None
    assert _set(dropped, "process", "pid") == {("cron", "7"), ("cron", "8")}


def test_hybrid_filters_then_ranks() -> None:
    # threshold 1.5 drops cpu series: kubelet 1, kubelet 2, java 6 (0.5), cron 7, cron 8.
    # remaining cpu scores: nginx 9, java 7 → k=1 keeps nginx on both process metrics.
    rendered = LIBRARY.get("hybrid").render({"threshold": 1.5, "k": 1})
    result = forecast(rendered, _inventory())
    assert _set(result.series, "__name__", "process", "pid") == {
        ("process_cpu_seconds_total", "nginx", "3"),
        ("process_cpu_seconds_total", "nginx", "4"),
        ("process_open_fds", "nginx", "3"),
        ("process_open_fds", "nginx", "4"),
        ("node_load1", "", ""),
    }
    assert list(result.waterfall()["series_out"]) == [12, 5]


def test_drop_labels_sums_the_series_that_collide() -> None:
    result = forecast(LIBRARY.get("drop-labels").render({"labels": ["pid"]}), _inventory())
    # 4 processes × 2 metrics + node_load1; values summed per process
    assert result.output_series == 9
    cpu = result.series[result.series["__name__"] == "process_cpu_seconds_total"]
    assert dict(zip(cpu["process"].astype(str), cpu["__value__"], strict=True)) == {
        "kubelet": 2.0,
        "nginx": 9.0,
        "java": 7.5,
        "cron": 0.001,
    }
    assert "pid" not in result.series.columns


def test_aggregate_keeps_only_the_given_labels() -> None:
    rendered = LIBRARY.get("aggregate").render(
        {"by": ["job"], "fn": "max", "apply_to": "process_.*"}
    )
    result = forecast(rendered, _inventory())
    assert _set(result.series, "__name__", "job") == {
        ("process_cpu_seconds_total", "node"),
        ("process_open_fds", "node"),
        ("node_load1", "node"),
    }
    values = dict(
        zip(result.series["__name__"].astype(str), result.series["__value__"], strict=True)
    )
    assert values == {"process_cpu_seconds_total": 7.0, "process_open_fds": 10.0, "node_load1": 0.7}


@pytest.mark.parametrize("name", LIBRARY.names())
def test_every_template_renders_with_its_defaults(name: str) -> None:
    template = LIBRARY.get(name)
    template.check_definition()
    assert template.render().refresh_seconds == template.refresh_seconds
