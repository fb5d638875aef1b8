"""Whether the Prometheus the controller reads answers, watched while anything deploys: a
deploy needs it (keep-lists) and so does the verdict, so an outage longer than
``metrics_outage_seconds`` fails a deploying experiment with the cause instead of a timeout."""

from __future__ import annotations

import logging
from datetime import datetime

from phoenix_core.controller.reference import ReferenceSource
from phoenix_core.metrics.reader import MetricsUnavailable

__all__ = ["MetricsOutage"]

log = logging.getLogger(__name__)


class MetricsOutage:
    """Since when the store has not answered, and why; checked once a pass."""

    def __init__(self, reference: ReferenceSource, prometheus_url: str, limit_seconds: float):
        self.reference = reference
        self.prometheus_url = prometheus_url
        self.limit_seconds = limit_seconds
        self._down: tuple[datetime, str] | None = None

    def check(self, now: datetime) -> None:
        """Ask the store once (``ReferenceSource.check``); note when it stopped answering."""
        try:
            self.reference.check()
        except MetricsUnavailable as exc:
            if self._down is None:
                log.warning("the Prometheus the controller reads does not answer: %s", exc)
                self._down = (now, str(exc))
            else:
                self._down = (self._down[0], str(exc))
            return
        if self._down is not None:
            log.info("the Prometheus the controller reads answers again")
        self._down = None

    def forget(self) -> None:
        """Nothing deploys: an outage counts only while it is watched."""
        self._down = None

    def reason(self, now: datetime) -> str:
        """Why a deploying experiment fails now (the store has not answered for the limit),
        or nothing."""
        if self._down is None:
            return ""
        since, why = self._down
        down = (now - since).total_seconds()
        if down < self.limit_seconds:
            return ""
        return (
            f"the Prometheus at {self.prometheus_url} (PHOENIX_CONTROLLER_PROMETHEUS_URL)"
            f" has not answered for {down:.0f} s, since {since:%H:%M:%S} UTC; keep-lists and the"
            f" verdict read it: {why}"
        )
