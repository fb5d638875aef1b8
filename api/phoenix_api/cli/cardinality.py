"""``phoenix cardinality``: the inventory of the series a selector matches in Phoenix's
Prometheus, through the REST API (``GET /api/v1/cardinality``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from phoenix_api.cli._common import OUTPUT, api_client

__all__ = ["cardinality", "inventory_lines"]


@click.command("cardinality")
@click.option(
    "--selector",
    default=None,
    help="A series selector, e.g. '{job=\"node\"}' (default: every series).",
)
@click.option(
    "--since",
    default="1h",
    show_default=True,
    help="The window: from this long ago until now (30m, 6h, 1d).",
)
@click.option(
    "--limit", type=click.IntRange(1), default=10, show_default=True, help="Rows per table."
)
@OUTPUT
def cardinality(selector: str | None, since: str, limit: int, output: str) -> None:
    """The inventory of Phoenix's Prometheus: series per metric, labels, pairs, churn.

    Over a window of the Prometheus the server reads (PHOENIX_CONTROLLER_PROMETHEUS_URL):
    per metric its series and those created and ended in the window, the labels with the
    most values per metric, and the label-value pairs on the most series. Every count is of
    series, but the labels' (of values); docs/cardinality.md says what each means."""
    from phoenix_core.metrics.cardinality import duration_seconds

    try:
        seconds = duration_seconds(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    start = datetime.now(UTC) - timedelta(seconds=seconds)
    with api_client() as client:
        answer = client.cardinality(selector, start=start, limit=limit)
    if output == "json":
        click.echo(json.dumps(answer, indent=2))
        return
    for line in inventory_lines(answer):
        click.echo(line)


def inventory_lines(answer: dict[str, Any]) -> list[str]:
    """The answer of ``GET /api/v1/cardinality`` in words and three tables."""
    start, end = (answer[k][:19].replace("T", " ") for k in ("start", "end"))
    lines = [
        f"Series matching {answer['selector']} from {start} to {end} UTC"
        f" ({answer['window_seconds']:,.0f} s):",
        f"  {answer['total_series']:,} series in {answer['metric_count']:,} metrics;"
        f" {answer['created']:,} created and {answer['ended']:,} ended in the window",
    ]
    metrics = answer["metrics"]
    width = max([len("METRIC"), *(len(row["metric"]) for row in metrics)])
    lines += ["", f"{'METRIC':<{width}}  {'SERIES':>10}  {'CREATED':>10}  {'ENDED':>10}"]
    lines += [
        f"{r['metric']:<{width}}  {r['series']:>10,}  {r['created']:>10,}  {r['ended']:>10,}"
        for r in metrics
    ]
    lines += _more(answer["metric_count"], len(metrics), "metrics")
    labels = answer["labels"]
    names = [f"{row['metric']} {row['label']}" for row in labels]
    width = max([len("METRIC LABEL"), *map(len, names)])
    lines += ["", f"{'METRIC LABEL':<{width}}  {'VALUES':>10}"]
    lines += [
        f"{name:<{width}}  {row['values']:>10,}" for name, row in zip(names, labels, strict=True)
    ]
    lines += _more(answer["label_count"], len(labels), "labels")
    pairs = [f'{row["label"]}="{row["value"]}"' for row in answer["pairs"]]
    width = max([len("LABEL=VALUE"), *map(len, pairs)])
    lines += ["", f"{'LABEL=VALUE':<{width}}  {'SERIES':>10}"]
    lines += [
        f"{pair:<{width}}  {row['series']:>10,}"
        for pair, row in zip(pairs, answer["pairs"], strict=True)
    ]
    return lines


def _more(count: int, shown: int, what: str) -> list[str]:
    return [f"({count - shown:,} more {what}: --limit)"] if count > shown else []
