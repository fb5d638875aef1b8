"""Reference values: the baseline's latest series on a host, the input of keep-lists.

``PrometheusReference`` reads them from the metrics store the collectors write to;
``StaticReference`` serves given inventories (unit tests, dry runs).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

import pandas as pd

from phoenix_core.metrics.prometheus import PrometheusClient
from phoenix_core.pipelines.inventory import VALUE, inventory_from_series
from phoenix_core.pipelines.scrape import SCRAPE_META_SERIES

__all__ = ["PrometheusReference", "ReferenceSource", "StaticReference"]

_PHOENIX_LABELS = ("experiment_id", "variant", "host")


class ReferenceSource(Protocol):
    def latest(
        self, experiment_id: uuid.UUID, variant: str, host: str, jobs: Sequence[str]
    ) -> pd.DataFrame | None:
        """The variant's current series on the host (labels and values), None if none yet."""


class PrometheusReference:
    def __init__(self, client: PrometheusClient) -> None:
        self.client = client

    def latest(
        self, experiment_id: uuid.UUID, variant: str, host: str, jobs: Sequence[str]
    ) -> pd.DataFrame | None:
        job_regex = "|".join(_escape(job) for job in jobs)
        query = (
            f'{{experiment_id="{experiment_id}",variant="{_escape(variant)}",'
            f'host="{_escape(host)}",job=~"{job_regex}"}}'
        )
        samples = [
            s
            for s in self.client.instant(query)
            if s.labels.get("__name__") not in SCRAPE_META_SERIES
        ]
        if not samples:
            return None
        labels = [{k: v for k, v in s.labels.items() if k not in _PHOENIX_LABELS} for s in samples]
        return inventory_from_series(labels, [s.value for s in samples])


class StaticReference:
    """Fixed inventories by (variant, host); everything else has no reference yet."""

    def __init__(self, inventories: dict[tuple[str, str], pd.DataFrame] | None = None) -> None:
        self.inventories = inventories or {}

    def latest(
        self, experiment_id: uuid.UUID, variant: str, host: str, jobs: Sequence[str]
    ) -> pd.DataFrame | None:
        frame = self.inventories.get((variant, host))
        return None if frame is None or VALUE not in frame.columns else frame


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
