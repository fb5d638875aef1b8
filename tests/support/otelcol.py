"""The OpenTelemetry Collector in the tests: the collector Phoenix builds
(``deploy/otelcol/build.sh``, cached outside the repository; built here when missing), and the
template cases and compile context the otelcol tests share."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from phoenix_core.pipelines.compiler import CompileContext, ScrapeTarget
from phoenix_core.pipelines.templates import TemplateLibrary
from support.processes import stop_process
from support.waiting import until

__all__ = [
    "CRITICAL",
    "LIBRARY",
    "answers",
    "collector_binary",
    "context",
    "inventory",
    "otelcol_process",
    "template_cases",
]

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "deploy" / "otelcol" / "build.sh"


@cache
def collector_binary() -> Path:
    """otelcol-phoenix for the manifest as it is: from the cache, or built now (the first time
    on a machine: ~10 min; ``./dev.sh test`` builds it before the suite starts)."""
    built = subprocess.run([str(BUILD)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, f"{BUILD} failed:\n{built.stderr[-3000:]}"
    return Path(built.stdout.strip().splitlines()[-1])


@contextmanager
def otelcol_process(config: str, health_port: int, folder: Path) -> Iterator[None]:
    """otelcol-phoenix running ``config`` (written to ``folder``, its log beside it) until
    healthy; stopped at the end."""
    path = folder / "config.yaml"
    path.write_text(config)
    with (folder / "collector.log").open("wb") as log:
        process = subprocess.Popen(
            [str(collector_binary()), f"--config={path}"], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        healthy = f"http://127.0.0.1:{health_port}/"
        until(lambda: process.poll() is not None or answers(healthy), "a healthy collector")
        assert process.poll() is None, (folder / "collector.log").read_text()[-2000:]
        yield
    finally:
        stop_process(process, grace_seconds=10)


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 now."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


LIBRARY = TemplateLibrary.builtin()
CRITICAL = ['{process="kubelet"}']


def inventory() -> pd.DataFrame:
    """Three processes with two pids each on two process metrics, plus a machine metric."""
    rows: list[dict[str, Any]] = []
    cpu = {
        ("kubelet", "1"): 1.0,
        ("kubelet", "2"): 1.0,
        ("nginx", "3"): 5.0,
        ("nginx", "4"): 4.0,
        ("cron", "5"): 0.001,
        ("cron", "6"): 0.0,
    }
    for (process, pid), value in cpu.items():
        for metric, metric_value in (
            ("process_cpu_seconds_total", value),
            ("process_open_fds", 9.0),
        ):
            rows.append(
                {
                    "__name__": metric,
                    "process": process,
                    "pid": pid,
                    "job": "node",
                    "instance": "host:9100",
                    "__value__": metric_value,
                }
            )
    rows.append(
        {"__name__": "node_load1", "job": "node", "instance": "host:9100", "__value__": 0.7}
    )
    return pd.DataFrame(rows).fillna("")


def context(reference: pd.DataFrame | None = None) -> CompileContext:
    return CompileContext(
        experiment_id="exp-1",
        variant="candidate",
        host="host-a",
        targets=[ScrapeTarget("node", "127.0.0.1:9100"), ScrapeTarget("app", "127.0.0.1:8080")],
        remote_write_url="http://127.0.0.1:9090/api/v1/write",
        ports={"health": 13133, "telemetry": 18888},
        reference=reference,
    )


def template_cases() -> list[Any]:
    """(template, variables, expected refusal) for every template, plain and with protection."""
    cases = []
    for name in LIBRARY.names():
        cases.append(pytest.param(name, {}, None, id=f"{name}-defaults"))
        if "critical" in LIBRARY.get(name).variables:
            refused = "protected series" if name == "aggregate" else None
            cases.append(pytest.param(name, {"critical": CRITICAL}, refused, id=f"{name}-critical"))
    return cases
