"""A real Prometheus whose storage holds exactly the samples a test wrote, at the times it chose.

The samples are written as OpenMetrics text, turned into TSDB blocks by ``promtool tsdb
create-blocks-from openmetrics`` (Prometheus' own backfill), and a Prometheus server that scrapes
nothing is started on them: every query then answers from data known by hand, with no scrape
timing to wait for or to vary between runs.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from support.postgres import free_port
from support.prometheus import PrometheusServer, _running

__all__ = ["Sample", "openmetrics", "prometheus_with"]

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

Sample = tuple[str, Mapping[str, str], float, float]
"""Metric name, labels, value, Unix time in seconds."""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def openmetrics(samples: Iterable[Sample]) -> str:
    """The samples as OpenMetrics text: each metric's series together, each series' samples in
    time order, ``# EOF`` at the end (what promtool's backfill reads)."""
    ordered = sorted(samples, key=lambda s: (s[0], sorted(s[1].items()), s[3]))
    lines = []
    for name, labels, value, at in ordered:
        pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        lines.append(f"{name}{{{pairs}}} {value!r} {at!r}")
    return "\n".join([*lines, "# EOF"]) + "\n"


@contextmanager
def prometheus_with(samples: Iterable[Sample]) -> Iterator[PrometheusServer]:
    """A Prometheus server on a free loopback port holding ``samples``; stopped after."""
    folder = Path(tempfile.mkdtemp(prefix="phoenix-backfill-"))
    try:
        source = folder / "samples.om"
        source.write_text(openmetrics(samples))
        data = folder / "data"
        subprocess.run(
            [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        config = folder / "prometheus.yml"
        config.write_text("global: {scrape_interval: 15s}\n")
        args = [f"--config.file={config}", f"--storage.tsdb.path={data}"]
        with _running(args, folder, free_port()) as (url, process):
            yield PrometheusServer(url=url, process=process)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
