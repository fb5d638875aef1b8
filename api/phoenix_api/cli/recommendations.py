"""``phoenix recommendations``: reductions proposed from Phoenix's Prometheus and the stored usage,
ranked by savings, and a draft experiment made of one, through the REST API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from phoenix_api.cli._common import OUTPUT, PhoenixGroup, api_client

__all__ = ["recommendation_lines", "recommendations"]


@click.group("recommendations", cls=PhoenixGroup, invoke_without_command=True)
@click.option(
    "--selector", default=None, help="A series selector, e.g. '{job=\"node\"}' (default: all)."
)
@click.option(
    "--since",
    default="1h",
    show_default=True,
    help="The window: from this long ago until now (30m, 6h, 1d).",
)
@click.option(
    "--usage-source",
    "usage_sources",
    multiple=True,
    help="A usage source, NAME or NAME@VERSION (repeatable; default: every source's latest).",
)
@click.option(
    "--critical",
    "critical_selectors",
    multiple=True,
    help="A series selector no recommendation may remove (repeatable).",
)
@click.option(
    "--collector",
    type=click.Choice(["prometheus-agent", "otelcol"]),
    default="prometheus-agent",
    show_default=True,
    help="The collector the pipelines would run on (docs/pipeline-support.md).",
)
@click.option("--price-book", default=None, help="Default: grafana-cloud-pro.")
@click.option(
    "--fleet-hosts",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Times the series counted are billed (1: the selector covers the whole fleet).",
)
@click.option(
    "--scrape-interval",
    type=click.FloatRange(0, min_open=True),
    default=15.0,
    show_default=True,
    help="Seconds between a series' samples, for samples/s and sample-billed books.",
)
@click.option("--top-k", type=click.IntRange(1), default=20, show_default=True, help="k.")
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Recommendations and refusals shown, each.",
)
@click.option(
    "--accept-incomplete-usage",
    is_flag=True,
    help="Recommend even while some usage queries failed to parse, from those that did; each "
    "recommendation then warns that it may break the queries that failed (default: nothing is "
    "recommended until they are fixed or their sources left out).",
)
@OUTPUT
@click.pass_context
def recommendations(
    ctx: click.Context,
    *,
    selector: str | None,
    since: str,
    usage_sources: tuple[str, ...],
    critical_selectors: tuple[str, ...],
    collector: str,
    price_book: str | None,
    fleet_hosts: int,
    scrape_interval: float,
    top_k: int,
    limit: int,
    accept_incomplete_usage: bool,
    output: str,
) -> None:
    """Reductions ranked by savings, and what was refused (REST API: PHOENIX_API_URL,
    PHOENIX_TOKEN).

    From the inventory of Phoenix's Prometheus over the last --since and the usage sources:
    drop metrics no query reads (and, when several are, all of them in one step), drop labels
    no query depends on (the series that merge are summed, where the collector can), keep the
    top k values of labels that look like processes, pods or ids. Each is forecast on the real
    series, priced under the price book and listed with who reads what it touches; 'phoenix
    recommendations experiment ID' makes a draft experiment of one (docs/recommendations.md)."""
    if ctx.invoked_subcommand is not None:
        return
    from phoenix_core.metrics.cardinality import duration_seconds

    try:
        seconds = duration_seconds(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    with api_client() as client:
        answer = client.recommendations(
            selector,
            start=datetime.now(UTC) - timedelta(seconds=seconds),
            usage_sources=list(usage_sources) or None,
            critical_selectors=list(critical_selectors),
            collector=collector,
            price_book=price_book,
            fleet_hosts=fleet_hosts,
            scrape_interval_seconds=scrape_interval,
            top_k=top_k,
            limit=limit,
            accept_incomplete_usage=accept_incomplete_usage,
        )
    if output == "json":
        click.echo(json.dumps(answer, indent=2))
        return
    for line in recommendation_lines(answer):
        click.echo(line)


@recommendations.command("show")
@click.argument("recommendation_id")
@OUTPUT
def recommendations_show(recommendation_id: str, output: str) -> None:
    """One recommendation as last computed: its pipeline, forecast, savings and evidence."""
    with api_client() as client:
        found = client.recommendation(recommendation_id)
    if output == "json":
        click.echo(json.dumps(found, indent=2))
        return
    for line in detail_lines(found):
        click.echo(line)


@recommendations.command("experiment")
@click.argument("recommendation_id")
@click.option("--host", "hosts", multiple=True, help="A hostname to run on (repeatable).")
@click.option(
    "--host-selector",
    "host_labels",
    multiple=True,
    help="KEY=VALUE: run on every active host with these labels (repeatable).",
)
@click.option("--name", default=None, help="Default: the recommendation's title.")
@click.option("--duration", type=click.FloatRange(0, min_open=True), default=None, help="s.")
@click.option("--warmup", type=click.FloatRange(0), default=None, help="s.")
@click.option(
    "--output",
    type=click.Choice(["table", "json", "id"]),
    default="table",
    show_default=True,
    help="json: the experiment's record; id: only its id.",
)
def recommendations_experiment(
    recommendation_id: str,
    *,
    hosts: tuple[str, ...],
    host_labels: tuple[str, ...],
    name: str | None,
    duration: float | None,
    warmup: float | None,
    output: str,
) -> None:
    """Create a draft experiment of RECOMMENDATION_ID (operators): the baseline against the
    recommended pipeline, on --host or --host-selector, scraping the targets its series came
    from, with its critical selectors and usage sources. Then 'phoenix experiment dry-run ID'
    and 'phoenix experiment start ID'."""
    selector = {}
    for pair in host_labels:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--host-selector")
        selector[key] = value
    with api_client() as client:
        created = client.experiment_from_recommendation(
            recommendation_id,
            hosts=list(hosts) or None,
            host_selector=selector or None,
            name=name,
            duration_seconds=duration,
            warmup_seconds=warmup,
        )
    if output == "id":
        click.echo(created["id"])
    elif output == "json":
        click.echo(json.dumps(created, indent=2))
    else:
        spec = created["spec"]
        candidate = spec["variants"][1]
        click.echo(f"Draft experiment {created['id']}: {spec['name']}")
        click.echo(f"  baseline against {candidate['template']} on {spec['collector']}")
        sources = ", ".join(
            f"{s['name']} ({s.get('address') or s['kind']})" for s in spec["sources"]
        )
        click.echo(f"  sources: {sources}")
        click.echo(
            f"  next: phoenix experiment dry-run {created['id']}; "
            f"phoenix experiment start {created['id']}"
        )


def recommendation_lines(answer: dict[str, Any]) -> list[str]:
    """The answer of ``GET /api/v1/recommendations`` as a ranked table, then the refusals."""
    start, end = (answer[k][:19].replace("T", " ") for k in ("start", "end"))
    sources = ", ".join(answer["usage_sources"]) or "none"
    currency = answer["currency"]
    cost = answer["monthly_cost"]
    lines = [
        f"Recommendations for {answer['selector']} from {start} to {end} UTC "
        f"({answer['collector']}):",
        f"  {answer['total_series']:,} series in {answer['metric_count']:,} metrics; usage "
        f"from {sources}{'' if answer['usage_complete'] else ' (incomplete)'}",
        f"  savings under {answer['price_book']} on {answer['fleet_hosts']:,} hosts, a sample "
        f"every {answer['scrape_interval_seconds']:g} s"
        + (f", of {cost:,.2f} {currency} a month" if cost is not None else ""),
    ]
    if answer.get("usage_warning"):
        lines.append(f"  warning: {answer['usage_warning']}")
    lines.append("")
    rows = answer["recommendations"]
    if rows:
        lines.append(
            f"{'#':>3}  {'ID':<16}  {'KIND':<19}  {'SERIES':>17}  {'SAVES/MONTH':>14}  WHAT"
        )
    for rank, row in enumerate(rows, 1):
        series = f"{row['series_before']:,} -> {row['series_after']:,}"
        saved = row["savings"]["monthly"]
        money = f"{saved:,.2f} {currency}" if saved is not None else "n/a"
        lines.append(
            f"{rank:>3}  {row['id']:<16}  {row['kind']:<19}  {series:>17}  {money:>14}  "
            f"{row['title']}"
        )
        lines.append(f"{'':>5}usage: {row['usage']['summary']}")
        for protected in row["protects"]:
            lines.append(f"{'':>5}protects {protected['series']:,} series: {protected['selector']}")
    if not rows:
        lines.append("No recommendation.")
    if answer["recommendation_count"] > len(rows):
        lines.append(f"({answer['recommendation_count'] - len(rows):,} more: --limit)")
    refusals = answer["refusals"]
    if refusals:
        lines += ["", f"Refused ({answer['refusal_count']:,}):"]
        lines += [f"  - {refusal['reason']}" for refusal in refusals]
        if answer["refusal_count"] > len(refusals):
            lines.append(f"  ({answer['refusal_count'] - len(refusals):,} more: --limit)")
    if answer["notes"]:
        lines += ["", "Notes:"] + [f"  - {note}" for note in answer["notes"]]
    return lines


def detail_lines(found: dict[str, Any]) -> list[str]:
    """One recommendation in words."""
    saved = found["savings"]
    pipeline = found["pipeline"]
    variables = " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(pipeline["variables"].items()))
    lines = [
        f"Recommendation {found['id']} ({found['kind']}, {found['collector']}): {found['title']}",
        f"  pipeline: {pipeline['template']} v{pipeline['template_version']} {variables}",
        f"  series: {found['series_before']:,} -> {found['series_after']:,} "
        f"({found['change_percent']:+.1f} %), samples/s "
        f"{found['samples_per_second_before']:,.2f} -> {found['samples_per_second_after']:,.2f}",
    ]
    if saved["monthly"] is not None:
        lines.append(
            f"  saves {saved['monthly']:,.2f} {saved['currency']} a month "
            f"({saved['yearly']:,.2f} a year) under {saved['price_book']} on "
            f"{saved['fleet_hosts']:,} hosts"
        )
    lines.append(
        f"  usage ({', '.join(found['usage_sources']) or 'none'}): {found['usage']['summary']}"
    )
    if found["usage"].get("warning"):
        lines.append(f"  warning: {found['usage']['warning']}")
    lines += [
        f"    - {q['where']}: {q['query']} [{q['labels']}]" for q in found["usage"]["queries"]
    ]
    lines += [f"  protects {p['series']:,} series: {p['selector']}" for p in found["protects"]]
    lines += [
        f"  {m['metric']}: {m['series_before']:,} -> {m['series_after']:,}"
        for m in found["per_metric"]
    ]
    return lines
