"""``phoenix usage``: upload the rule files, Grafana dashboards and query lists that read the
fleet's metrics, list and show them, and say who reads which metric, through the REST API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from phoenix_api.cli._common import OUTPUT, PhoenixGroup, api_client

__all__ = ["usage"]

KINDS = ("rules", "dashboard", "queries")


@click.group("usage", cls=PhoenixGroup)
def usage() -> None:
    """Usage sources, through the REST API (PHOENIX_API_URL, PHOENIX_TOKEN).

    A usage source is a Prometheus rule file, a Grafana dashboard's JSON or a list of PromQL
    queries (one a line), stored under a name; each upload of new content is a new version.
    Phoenix reads from them which metrics and labels the fleet's queries depend on
    (docs/usage.md).
    """


@usage.command("add")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--kind", type=click.Choice(KINDS), required=True, help="What FILE holds.")
@click.option(
    "--name",
    default=None,
    help="The source's name (default: FILE's name without its extension: node-rules for "
    "node-rules.yaml). Required when FILE is '-' (standard input).",
)
@OUTPUT
def usage_add(file: str, kind: str, name: str | None, output: str) -> None:
    """Upload FILE as the next version of a usage source (operators). The same content as the
    latest version adds nothing. FILE that is not of its kind is refused; queries in it that
    do not parse are listed, with where they are, and the rest is read."""
    from phoenix_core.client import ApiError

    if name is None:
        if file == "-":
            raise click.UsageError("give --name when FILE is '-' (standard input)")
        name = Path(file).stem
    try:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"cannot read it: {exc.strerror}", param_hint="FILE") from exc
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"not UTF-8 text: {exc}", param_hint="FILE") from exc
    with api_client() as client:
        try:
            added = client.add_usage_source(name, kind, content)
        except ApiError as exc:
            if exc.status != 413:
                raise
            raise click.ClickException(
                f"{file} ({len(raw):,} bytes, more once escaped in the JSON request) is larger "
                f"than the API accepts: {exc}. An admin raises PHOENIX_MAX_BODY_BYTES on the "
                "API server (default 1 MiB)."
            ) from exc
    if output == "json":
        click.echo(json.dumps(added, indent=2))
        return
    version = added["version"]
    if added["created"]:
        click.echo(
            f"{added['name']}: version {version['version']} added ({version['size_bytes']:,} "
            f"bytes, sha256 {version['sha256'][:12]})."
        )
    else:
        click.echo(f"{added['name']}: unchanged, version {version['version']} holds this content.")
    click.echo(_counts_line(added["counts"], added["complete"]))
    for line in _problem_lines(added["problems"]):
        click.echo(line)


@usage.command("list")
@OUTPUT
def usage_list(output: str) -> None:
    """Every usage source with its latest version."""
    with api_client() as client:
        sources = client.usage_sources()
    if output == "json":
        click.echo(json.dumps(sources, indent=2))
        return
    click.echo(f"{'NAME':<30} {'KIND':<10} {'VERSION':>7}  {'SHA256':<12}  {'UPLOADED':<20}  BY")
    for source in sources:
        latest = source["latest"]
        click.echo(
            f"{source['name']:<30} {source['kind']:<10} {latest['version']:>7}  "
            f"{latest['sha256'][:12]:<12}  {_when(latest['created_at']):<20}  "
            f"{latest['created_by']}"
        )


@usage.command("show")
@click.argument("name")
@click.option("--version", type=int, default=None, help="A version number (default: latest).")
@OUTPUT
def usage_show(name: str, version: int | None, output: str) -> None:
    """A usage source: its versions, then what one of them (default: the latest) holds, and
    every query not read (failed to parse, skipped) with where it is."""
    with api_client() as client:
        source = client.usage_source(name)
        queries = client.usage_queries(name, version)
    if output == "json":
        click.echo(json.dumps({"source": source, "queries": queries}, indent=2))
        return
    shown = queries["version"]
    click.echo(
        f"{source['name']} ({source['kind']}): version {shown['version']} of "
        f"{source['version_count']}, {shown['size_bytes']:,} bytes, sha256 "
        f"{shown['sha256'][:12]}, uploaded by {shown['created_by']} at "
        f"{_when(shown['created_at'])}."
    )
    click.echo(_counts_line(queries["counts"], queries["complete"]))
    click.echo("versions:")
    for v in source["versions"]:
        click.echo(
            f"  {v['version']:>4}  {v['sha256'][:12]}  {v['size_bytes']:>10,} bytes  "
            f"{_when(v['created_at'])}  {v['created_by']}"
        )
    for line in _problem_lines([r for r in queries["records"] if r["status"] != "ok"]):
        click.echo(line)


@usage.command("metrics")
@click.option(
    "--source",
    "sources",
    multiple=True,
    help="Only this source: NAME (its latest version) or NAME@VERSION; repeatable. "
    "Default: the latest version of every source.",
)
@click.option("--metric", default=None, help="Only this metric (patterns that match it count).")
@OUTPUT
def usage_metrics(sources: tuple[str, ...], metric: str | None, output: str) -> None:
    """Per metric (a name, or a pattern over names): how many queries read it, in which
    sources, and which of its labels they depend on."""
    with api_client() as client:
        report = client.usage(list(sources) or None, metric)
    if output == "json":
        click.echo(json.dumps(report, indent=2))
        return
    rows = report["metrics"]
    labels = {row["metric"]: _labels(row) for row in rows}
    width = max([len("METRIC"), *(len(row["metric"]) for row in rows)])
    labels_width = max([len("LABELS"), *(len(text) for text in labels.values())])
    click.echo(f"{'METRIC':<{width}}  {'QUERIES':>7}  {'LABELS':<{labels_width}}  SOURCES")
    for row in rows:
        users = ", ".join(row["sources"]) or "-"
        click.echo(
            f"{row['metric']:<{width}}  {row['queries']:>7}  "
            f"{labels[row['metric']]:<{labels_width}}  {users}"
        )
    read = ", ".join(f"{s['name']}@{s['version']}" for s in report["sources"]) or "none"
    click.echo(f"sources read: {read}")
    if not report["complete"]:
        failed = [s["name"] for s in report["sources"] if not s["complete"]]
        errors = report["counts"]["error"]
        click.echo(
            f"incomplete: {_queries(errors)} failed to parse (in {', '.join(failed)}), and "
            "could read any metric; 'phoenix usage show NAME' lists them."
        )


@usage.command("delete")
@click.argument("name")
def usage_delete(name: str) -> None:
    """Delete the usage source NAME and all its versions (admins; the audit trail keeps an
    event). Refused while an experiment that has not ended names it."""
    with api_client() as client:
        client.delete_usage_source(name)
    click.echo(f"Usage source {name} is deleted.")


def _counts_line(counts: dict[str, int], complete: bool) -> str:
    line = (
        f"{_queries(counts['total'])}: {counts['ok']} read, {counts['error']} failed to parse, "
        f"{counts['skipped']} skipped."
    )
    return line if complete else line + " Incomplete: a query that failed could read any metric."


def _queries(count: int) -> str:
    return f"{count} query" if count == 1 else f"{count} queries"


def _labels(row: dict[str, Any]) -> str:
    """The labels the metric's readers depend on, and the patterns it is read through."""
    if not row["queries"]:
        return "- (not read)"
    via = [ref for ref in row["via"] if ref != row["metric"]]
    text: str = row["label_use"]
    return text + (f" (through {', '.join(via)})" if via else "")


def _problem_lines(records: list[dict[str, Any]]) -> list[str]:
    lines = []
    for status, title in (("error", "failed to parse:"), ("skipped", "skipped:")):
        found = [r for r in records if r["status"] == status]
        if found:
            lines.append(title)
        for record in found:
            lines.append(f"  {record['where']}")
            if record["query"]:
                lines.append(f"    {' '.join(record['query'].split())}")
            lines.append(f"    {record['message']}")
    return lines


def _when(timestamp: str) -> str:
    """An API timestamp to the second, as UTC: 2026-12-06 03:26:41Z."""
    return timestamp.replace("T", " ")[:19] + "Z"
