"""Reference values: the baseline's latest series on a host, the input of keep-lists.

A keep- or drop-list (and a drop's collision check) is computed only from a **complete**
inventory: the receiver holds, per source, exactly as many of the baseline's series as its
collector kept after relabelling in its latest scrape (the scrape's own
``scrape_samples_post_metric_relabeling``, which both collector kinds write beside their
output), and that count has held for the last three scrapes (two scrape intervals). Until then
``latest`` says what it waits for, with what it found so far. A source whose latest scrape
failed (``up == 0``) is not complete, and one whose last three scrapes failed never will be:
``latest`` then refuses, naming the source, its address, the host and the query, and the
controller fails the experiment at once instead of waiting for the deploy timeout.

``PrometheusReference`` reads the receiver the collectors write to; ``StaticReference`` serves
given inventories (unit tests).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from phoenix_core.metrics.catalog import jobs_regex
from phoenix_core.metrics.reader import SAMPLE_COLUMNS, MetricsReader, MetricsUnavailable
from phoenix_core.pipelines.inventory import VALUE, inventory_from_series
from phoenix_core.pipelines.scrape import SCRAPE_META_SERIES
from phoenix_core.wire.labels import IDENTITY_LABELS, matchers, promql_string

__all__ = [
    "POST_RELABEL",
    "STEADY_SCRAPES",
    "PrometheusReference",
    "Reference",
    "ReferenceSource",
    "StaticReference",
]

POST_RELABEL = "scrape_samples_post_metric_relabeling"
STEADY_SCRAPES = 3
"""Scrapes in a row (two scrape intervals) whose post-relabelling count must agree."""


@dataclass(frozen=True)
class Reference:
    """The baseline's complete inventory on a host, or why there is none yet, or why there
    will be none (``refused``: waiting would not help)."""

    inventory: pd.DataFrame | None
    waiting_for: str = ""
    refused: str = ""

    @classmethod
    def waiting(cls, reason: str) -> Reference:
        return cls(None, reason)

    @classmethod
    def refusal(cls, reason: str) -> Reference:
        return cls(None, reason, refused=reason)


class ReferenceSource(Protocol):
    def latest(
        self, experiment_id: uuid.UUID, variant: str, host: str, jobs: Sequence[str]
    ) -> Reference:
        """The variant's complete current series on the host (labels and values)."""

    def check(self) -> None:
        """``MetricsUnavailable`` when the store the reference (and the measurements) come
        from does not answer."""


class PrometheusReference:
    def __init__(self, reader: MetricsReader, scrape_interval_seconds: float) -> None:
        self.reader = reader
        self.scrape_interval_seconds = scrape_interval_seconds

    def latest(
        self, experiment_id: uuid.UUID, variant: str, host: str, jobs: Sequence[str]
    ) -> Reference:
        jobs_matcher = promql_string(jobs_regex(jobs))
        selector = f'{matchers(str(experiment_id), variant, host)},job=~"{jobs_matcher}"'
        window = f"{round(self.scrape_interval_seconds * (STEADY_SCRAPES + 1.5))}s"
        query = f"{{{selector}}}"
        found = self.reader.instant(query)
        if "__name__" in found.columns:
            found = found[~found["__name__"].isin(SCRAPE_META_SERIES)]
        scrapes = self.reader.instant(f"{POST_RELABEL}{{{selector}}}[{window}]")
        # read last: every scrape counted above has its up sample here too
        silent, failing = self._scrape_health(selector, window, host)
        if silent:
            return Reference.refusal(silent)
        if found.empty:
            return Reference.waiting(
                f"no series for the baseline on host {host} yet (query {query})"
            )
        held = Counter(found["job"] if "job" in found.columns else [""] * len(found))
        reported: dict[str, list[float]] = {}
        if "job" in scrapes.columns:
            for job, samples in scrapes.sort_values("timestamp").groupby("job"):
                reported[str(job)] = samples["value"].tolist()
        incomplete = [f"{job}: its last scrape failed (up == 0)" for job in sorted(failing)]
        for job in sorted(held.keys() | reported.keys()):
            counts = reported.get(job, [])
            if not counts:
                incomplete.append(f"{job}: no {POST_RELABEL} for its scrapes yet")
                continue
            latest = counts[-1]
            if held[job] != latest:
                incomplete.append(f"{job}: {held[job]:,} of {int(latest):,} series")
            elif len(counts) < STEADY_SCRAPES or any(c != latest for c in counts[-STEADY_SCRAPES:]):
                incomplete.append(
                    f"{job}: {int(latest):,} series, not yet steady for {STEADY_SCRAPES} scrapes"
                )
        if incomplete:
            total = sum(held.values())
            return Reference.waiting(
                f"the baseline's inventory on host {host} is incomplete ({total:,} series at "
                f"the receiver; {'; '.join(incomplete)})"
            )
        labels = found.drop(columns=[*IDENTITY_LABELS, *SAMPLE_COLUMNS], errors="ignore")
        series = [
            {str(k): str(v) for k, v in row.items() if v != ""} for row in labels.to_dict("records")
        ]
        return Reference(inventory_from_series(series, found["value"].tolist()))

    def check(self) -> None:
        self.reader.instant("vector(1)")

    def _scrape_health(self, selector: str, window: str, host: str) -> tuple[str, set[str]]:
        """Why the baseline will never have a complete inventory (a source whose last
        ``STEADY_SCRAPES`` scrapes all failed, ``up == 0``: a node-exporter not running), and
        the sources whose latest scrape failed (not complete, whatever their counts say)."""
        query = f"up{{{selector}}}[{window}]"
        scrapes = self.reader.instant(query)
        if "job" not in scrapes.columns:
            return "", set()
        silent, failing = [], set()
        for job, samples in scrapes.sort_values("timestamp").groupby("job"):
            values = samples["value"].tolist()
            if values and not values[-1]:
                failing.add(str(job))
            last = values[-STEADY_SCRAPES:]
            if len(last) == STEADY_SCRAPES and not any(last):
                where = f" at {samples['instance'].iloc[-1]}" if "instance" in samples else ""
                silent.append(f"source {job}{where}")
        if not silent:
            return "", failing
        reason = (
            f"{', '.join(silent)} on host {host} does not answer: its last {STEADY_SCRAPES}"
            f" scrapes failed (up == 0; query {query})"
        )
        return reason, failing


class StaticReference:
    """Fixed inventories by (variant, host); everything else has no reference yet."""

    def __init__(self, inventories: dict[tuple[str, str], pd.DataFrame] | None = None) -> None:
        self.inventories = inventories or {}
        self.unavailable = ""  # set it to make the store "down" with that reason

    def check(self) -> None:
        if self.unavailable:
            raise MetricsUnavailable(self.unavailable)

    def latest(
        self, experiment_id: uuid.UUID, variant: str, host: str, jobs: Sequence[str]
    ) -> Reference:
        frame = self.inventories.get((variant, host))
        if frame is None or VALUE not in frame.columns:
            return Reference.waiting(f"no series for the baseline on host {host} yet")
        return Reference(frame)
