"""The load processes the agent starts (``python -m phoenix_agent.loadsim serve|churn|custom``):
the high-cardinality exporter (prometheus_client), process churn, and allow-listed scripts.

A program of its own so that the agent, which only starts and stops these, never loads
prometheus_client. The profiles, their parameters and the exporter's series:
:mod:`phoenix_core.wire.loads`.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from phoenix_core.wire.loads import (
    FAMILIES,
    PROCESS_LABELS,
    HighCardinalityParameters,
    ProcessChurnParameters,
    SpikeParameters,
    process_labels,
)

__all__ = ["HighCardinality", "main"]


class HighCardinality:
    """The exporter's collector: the same series on every scrape (until churn renames them)."""

    def __init__(self, parameters: HighCardinalityParameters) -> None:
        self.parameters = parameters
        self._began = time.monotonic()

    def series_now(self) -> int:
        p, age = self.parameters, time.monotonic() - self._began
        if isinstance(p, SpikeParameters) and age % p.every_seconds >= (
            p.every_seconds - p.burst_seconds
        ):
            return p.burst_series
        return p.series

    def collect(self) -> Iterator[Metric]:
        p = self.parameters
        generation = (
            int((time.monotonic() - self._began) // p.churn_seconds) if p.churn_seconds else 0
        )
        count = self.series_now()
        for name, kind, value in FAMILIES[: p.metrics]:
            family_class = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            base = name.removesuffix("_total") if kind == "counter" else name
            family = family_class(base, f"Simulated {name}.", labels=list(PROCESS_LABELS))
            for i in range(count):
                family.add_metric(list(process_labels(generation, i)), value(i))
            yield family


def serve_high_cardinality(
    port: int, parameters: HighCardinalityParameters, seconds: float
) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HighCardinality(parameters))
    start_http_server(port, addr="127.0.0.1", registry=registry)
    _until_stopped(seconds).wait()


def _until_stopped(seconds: float) -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    return stop


def churn_processes(parameters: ProcessChurnParameters, seconds: float) -> None:
    """Start short-lived processes at the given rate (all in this process group)."""
    stop = _until_stopped(seconds)
    living: list[subprocess.Popen[bytes]] = []
    sleep = shutil.which("sleep") or "/bin/sleep"
    while not stop.wait(1 / parameters.rate):
        living = [p for p in living if p.poll() is None]
        living.append(subprocess.Popen([sleep, str(parameters.lifetime_seconds)]))
    for process in living:
        process.kill()
        process.wait()


def run_custom(script: Path, seconds: float) -> None:
    """Run ``script`` (its own process group: this one) for at most ``seconds``."""
    stop = _until_stopped(seconds)
    process = subprocess.Popen([str(script)])
    while process.poll() is None and not stop.wait(0.2):
        pass
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m phoenix_agent.loadsim")
    sub = parser.add_subparsers(dest="what", required=True)
    serve = sub.add_parser("serve", help="serve an exactly known set of series")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--spike", action="store_true", help="with bursts of series")
    churn = sub.add_parser("churn", help="start short-lived processes at a rate")
    custom = sub.add_parser("custom", help="run an allowed script for a bounded time")
    custom.add_argument("--script", type=Path, required=True)
    for command in (serve, churn, custom):
        command.add_argument("--seconds", type=float, required=True)
    for command in (serve, churn):
        command.add_argument("--parameters", default="{}", help="the profile's parameters, JSON")
    args = parser.parse_args(argv)
    if args.what == "serve":
        kind = SpikeParameters if args.spike else HighCardinalityParameters
        serve_high_cardinality(args.port, kind.model_validate_json(args.parameters), args.seconds)
    elif args.what == "churn":
        churn_processes(ProcessChurnParameters.model_validate_json(args.parameters), args.seconds)
    else:
        run_custom(args.script, args.seconds)


if __name__ == "__main__":
    main()
