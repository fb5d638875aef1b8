"""The agent's own measurements: itself, and every collector and load it runs (psutil).

Every ``PHOENIX_AGENT_METRICS_SECONDS`` they go to ``POST /agent/v1/metrics`` (the control
plane's metrics cache: the collectors' CPU and memory per experiment and variant) and, when
``PHOENIX_AGENT_PUSHGATEWAY_URL`` is set, to that Pushgateway (job ``phoenix-agent``, grouped
by ``phoenix_host``: Phoenix's identity labels, ``phoenix_core.wire.labels``). Metric names
and units:

- ``phoenix_agent_active_tasks`` — tasks held now
- ``phoenix_agent_collectors`` — collectors by ``status``
- ``phoenix_agent_cpu_seconds_total``, ``phoenix_agent_rss_bytes`` — the agent process
- ``phoenix_collector_cpu_seconds_total``, ``phoenix_collector_rss_bytes``,
  ``phoenix_collector_restarts_total`` — per collector (``phoenix_experiment_id``,
  ``phoenix_variant``),
  its process and descendants
- ``phoenix_load_cpu_seconds_total``, ``phoenix_load_rss_bytes`` — per experiment's load
"""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import psutil

from phoenix_core.wire import ActivePipelineReport
from phoenix_core.wire import labels as identity
from phoenix_core.wire.agent_api import MetricSample, MetricsBatch

if TYPE_CHECKING:
    from prometheus_client.core import GaugeMetricFamily

__all__ = ["Measurement", "measure", "push", "to_batches"]


@dataclass(frozen=True)
class Measurement:
    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    experiment_id: uuid.UUID | None = None
    variant: str | None = None


def _usage(pid: int) -> tuple[float, float] | None:
    """CPU seconds and RSS bytes of a process and its descendants."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    cpu = rss = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            cpu += times.user + times.system
            rss += process.memory_info().rss
    return cpu, rss


def measure(
    held_tasks: int,
    collectors: list[ActivePipelineReport],
    loads: dict[uuid.UUID, int],
) -> list[Measurement]:
    """One reading of everything (``loads``: experiment id → pid)."""
    found = [Measurement("phoenix_agent_active_tasks", float(held_tasks))]
    by_status = Counter(c.status.value for c in collectors)
    found += [
        Measurement("phoenix_agent_collectors", float(n), {"status": status})
        for status, n in sorted(by_status.items())
    ]
    own = _usage(psutil.Process().pid)
    if own is not None:
        found += [
            Measurement("phoenix_agent_cpu_seconds_total", own[0]),
            Measurement("phoenix_agent_rss_bytes", own[1]),
        ]
    for collector in collectors:
        eid, variant = collector.experiment_id, collector.variant
        found.append(
            Measurement(
                "phoenix_collector_restarts_total",
                float(collector.restarts),
                experiment_id=eid,
                variant=variant,
            )
        )
        usage = _usage(collector.pid) if collector.pid else None
        if usage is not None:
            found += [
                Measurement("phoenix_collector_cpu_seconds_total", usage[0], {}, eid, variant),
                Measurement("phoenix_collector_rss_bytes", usage[1], {}, eid, variant),
            ]
    for experiment_id, pid in loads.items():
        usage = _usage(pid)
        if usage is not None:
            found += [
                Measurement("phoenix_load_cpu_seconds_total", usage[0], {}, experiment_id),
                Measurement("phoenix_load_rss_bytes", usage[1], {}, experiment_id),
            ]
    return found


def to_batches(measurements: Iterable[Measurement], size: int = 1000) -> list[MetricsBatch]:
    """The measurements as ``/agent/v1/metrics`` bodies (at most ``size`` samples each)."""
    now = datetime.now(UTC)
    samples = [
        MetricSample(
            metric_name=m.name,
            value=m.value,
            timestamp=now,
            labels=m.labels,
            experiment_id=m.experiment_id,
            variant=m.variant,
        )
        for m in measurements
    ]
    return [MetricsBatch(samples=samples[i : i + size]) for i in range(0, len(samples), size)]


def push(url: str, hostname: str, measurements: Iterable[Measurement]) -> None:
    """Replace this host's group on the Pushgateway with ``measurements``."""
    # imported here: only an agent that pushes loads prometheus_client (~1.5 MB of its RSS)
    from prometheus_client import CollectorRegistry, push_to_gateway
    from prometheus_client.core import GaugeMetricFamily

    registry = CollectorRegistry(auto_describe=False)
    families: dict[tuple[str, tuple[str, ...]], GaugeMetricFamily] = {}
    for m in measurements:
        labels = dict(m.labels)
        if m.experiment_id is not None:
            labels[identity.EXPERIMENT] = str(m.experiment_id)
        if m.variant is not None:
            labels[identity.VARIANT] = m.variant
        names = tuple(sorted(labels))
        family = families.get((m.name, names))
        if family is None:
            family = GaugeMetricFamily(m.name, m.name.replace("_", " "), labels=list(names))
            families[(m.name, names)] = family
        family.add_metric([labels[n] for n in names], m.value)

    class _Families:
        def collect(self) -> Iterable[GaugeMetricFamily]:
            return list(families.values())

    registry.register(_Families())
    push_to_gateway(
        url, job="phoenix-agent", grouping_key={identity.HOST: hostname}, registry=registry
    )
