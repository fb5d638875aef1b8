"""Benchmark: the inventory of 1,000,000 series with 8 labels in a real Prometheus.

    .venv/bin/python bench/cardinality.py [--series N] [--points P] [--repeat R] [--data DIR]

Writes the series as OpenMetrics (50 metrics; labels env, region, zone, service, pod, method,
status with 1 to 10 values, and id, one value per series), backfills them with ``promtool tsdb
create-blocks-from openmetrics`` into a data folder (about a minute; ``--data DIR`` keeps it
for the next run), starts Prometheus on it, then times ``Cardinality.inventory`` (what ``GET
/api/v1/cardinality`` calls) over the hour they cover: end to end, each of its questions, and
the Prometheus CPU it took. For scale, a floor: one ``count(last_over_time({…}[1h]))`` over
every series, the least any exact count of a window costs. Every number is checked against
the generated set. Goal (issue, section 1): under 3 s.

In the hour, 90 % of the series have a sample every 60/(P-1) minutes from its start to its
end; 5 % are created half-way (samples from then on), 5 % end half-way (no sample after).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from phoenix_core.metrics.reader import PrometheusReader  # noqa: E402
from phoenix_core.use_cases.cardinality import Cardinality  # noqa: E402
from support.postgres import free_port  # noqa: E402
from support.processes import exit_on_sigterm, stop_process  # noqa: E402

METRICS = 50
LABELS = {  # label: values (id: one per series)
    "env": 1,
    "region": 4,
    "zone": 5,
    "service": 10,
    "pod": 10,
    "method": 2,
    "status": 5,
}
HOUR = 3600
CHURN = 0.05
SELECTOR = '{__name__=~"bench_metric_.+"}'


def window() -> tuple[int, int]:
    """An hour inside one 2-hour block, some hours ago (within the default retention)."""
    block = (int(time.time()) - 6 * HOUR) // 7200 * 7200
    return block + 1800, block + 1800 + HOUR


def write_openmetrics(path: Path, series: int, points: int, start: int) -> None:
    """``series`` series over ``METRICS`` metrics; their samples in [start, start + 1 h]."""
    per_metric = series // METRICS
    every = [start + HOUR * k // (points - 1) for k in range(points)]
    half = start + HOUR // 2
    created = [t for t in every if t >= half]
    ended = [t for t in every if t <= half]
    churn = round(1 / CHURN)
    with path.open("w") as out:
        for metric in range(METRICS):
            name = f"bench_metric_{metric:02d}"
            out.write(f"# TYPE {name} gauge\n")
            lines = []
            for j in range(per_metric):
                i = metric * per_metric + j
                labels, rest = [], j
                for label, values in LABELS.items():
                    labels.append(f'{label}="{label[0]}{rest % values}"')
                    rest //= values
                text = f'{name}{{{",".join(labels)},id="{i}"}} 1 '
                kind = i % churn  # 0: created, 1: ended, else steady
                times = created if kind == 0 else ended if kind == 1 else every
                lines += [f"{text}{t}\n" for t in times]
            out.write("".join(lines))
        out.write("# EOF\n")


def backfill(data: Path, series: int, points: int, start: int) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="phoenix-bench-om-"))
    try:
        began = time.perf_counter()
        source = scratch / "series.om"
        write_openmetrics(source, series, points, start)
        print(
            f"wrote {source.stat().st_size / 1e6:,.0f} MB of OpenMetrics in "
            f"{time.perf_counter() - began:.0f} s"
        )
        began = time.perf_counter()
        data.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"backfilled in {time.perf_counter() - began:.0f} s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def prometheus(data: Path) -> Iterator[tuple[str, psutil.Process]]:
    folder = Path(tempfile.mkdtemp(prefix="phoenix-bench-prom-"))
    config = folder / "prometheus.yml"
    config.write_text("global: {scrape_interval: 15s}\n")
    port = free_port()
    with (folder / "log").open("wb") as log:
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "Prometheus not ready"
            time.sleep(0.2)
        yield url, psutil.Process(process.pid)
    finally:
        stop_process(process)
        shutil.rmtree(folder, ignore_errors=True)


def cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1_000_000)
    parser.add_argument("--points", type=int, default=5, help="samples of a whole-hour series")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--data", type=Path, help="keep the backfilled data here (reused)")
    args = parser.parse_args()
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, python {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
    version = subprocess.run(
        ["prometheus", "--version"], capture_output=True, text=True, check=True
    )
    print((version.stdout or version.stderr).splitlines()[0])
    data = args.data or Path(tempfile.mkdtemp(prefix="phoenix-bench-data-"))
    stamp = data / "phoenix-bench-window"
    if not stamp.exists():
        start, end = window()
        backfill(data, args.series, args.points, start)
        stamp.write_text(f"{start} {end}\n")
    start, end = (datetime.fromtimestamp(int(t), UTC) for t in stamp.read_text().split())
    try:
        with prometheus(data) as (url, process):
            measure(url, process, start, end, args)
    finally:
        if args.data is None:
            shutil.rmtree(data, ignore_errors=True)


def measure(
    url: str, process: psutil.Process, start: datetime, end: datetime, args: argparse.Namespace
) -> None:
    print(f"inventory of {SELECTOR} over {start:%H:%M}-{end:%H:%M} UTC, limit {args.limit}")
    with PrometheusReader(url, timeout=600) as reader:
        began, used = time.perf_counter(), cpu(process)
        floor = reader.instant(f"count(last_over_time({SELECTOR}[{HOUR}s]))", end)
        took, spent = time.perf_counter() - began, cpu(process) - used
    print(
        f"floor, count(last_over_time(...[1h])) = {floor['value'].iloc[0]:,.0f}: "
        f"{took:.2f} s, Prometheus CPU {spent:.2f} s"
    )
    cardinality = Cardinality.from_prometheus(url, timeout=600)
    times = []
    for run in range(args.repeat):
        began, used = time.perf_counter(), cpu(process)
        inventory = cardinality.inventory(SELECTOR, start, end, args.limit)
        times.append(time.perf_counter() - began)
        spent = cpu(process) - used
        print(f"run {run + 1}: {times[-1]:.2f} s, Prometheus CPU {spent:.2f} s")
    print(f"best: {min(times):.2f} s (goal: under 3 s)")
    for query in inventory.queries:
        calls = f" ({query.calls} calls)" if query.calls > 1 else ""
        print(f"  {query.seconds:7.2f} s  {query.rows:>9,} rows  {query.purpose}{calls}")
    churn = round(args.series * CHURN)
    expected = (args.series, churn, churn, METRICS)
    found = (inventory.total_series, inventory.created, inventory.ended, inventory.metric_count)
    ids = inventory.labels[inventory.labels["label"] == "id"]["values"]
    top = inventory.pairs.iloc[0]
    right = (
        found == expected
        and set(ids) == {args.series // METRICS}
        and (top["label"], top["value"], top["series"]) == ("env", "e0", args.series)
    )
    print(
        f"series {found[0]:,}, created {found[1]:,}, ended {found[2]:,}, metrics {found[3]}; "
        f"id values per metric {ids.iloc[0]:,}; matches the generated set: {right}"
    )


if __name__ == "__main__":
    main()
