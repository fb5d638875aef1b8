"""Series that a Prometheus scrape adds on its own, outside any pipeline."""

from __future__ import annotations

__all__ = ["SCRAPE_META_SERIES"]

SCRAPE_META_SERIES = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    }
)
"""One series each per target, written by every scraper and never seen by metric relabelling:
KPIs and forecast comparisons leave them out."""
