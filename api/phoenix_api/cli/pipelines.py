"""``phoenix pipeline``: the pipeline templates, and rendering and forecasting a choice of one
before any experiment, through the REST API (``/api/v1/pipelines/*``)."""

from __future__ import annotations

import json
from typing import IO, Any

import click

from phoenix_api.cli._common import OUTPUT, PhoenixGroup, api_client

__all__ = ["pipeline"]

COLLECTORS = ["prometheus-agent", "otelcol"]


@click.group(cls=PhoenixGroup)
def pipeline() -> None:
    """Pipeline templates, rendered and forecast, through the REST API (PHOENIX_API_URL,
    PHOENIX_TOKEN).

    \b
    phoenix pipeline templates
    phoenix pipeline render drop-labels --var 'labels=[pid]' --collector otelcol
    phoenix pipeline forecast drop-labels --var 'labels=[pid]' --inventory series.json
    """


def _variables(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; each value is read as YAML (``5``, ``[pid, tid]``, ``true``)."""
    import yaml

    found: dict[str, Any] = {}
    for item in values:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", ctx, param)
        try:
            found[name] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise click.BadParameter(f"{name}: not a YAML value ({exc})", ctx, param) from exc
    return found


VARIABLES = click.option(
    "--var",
    "variables",
    multiple=True,
    callback=_variables,
    metavar="NAME=VALUE",
    help="A template variable; VALUE is YAML (labels=[pid,tid], k=20); repeatable. "
    "'phoenix pipeline templates' lists each template's variables.",
)
VERSION = click.option(
    "--template-version", type=click.IntRange(min=1), default=None, help="[default: newest]"
)


@pipeline.command("templates")
@OUTPUT
def pipeline_templates(output: str) -> None:
    """The templates, newest version of each, with their variables."""
    with api_client() as client:
        templates = client.templates()
    if output == "json":
        click.echo(json.dumps(templates, indent=2))
        return
    click.echo(f"{'TEMPLATE':<18} {'VERSION':>7}  {'VARIABLES':<36} DESCRIPTION")
    for t in templates:
        variables = ", ".join(t["variables"]) or "-"
        description = " ".join(t["description"].split())
        click.echo(f"{t['name']:<18} {t['version']:>7}  {variables:<36} {description}")


@pipeline.command("render")
@click.argument("template")
@VARIABLES
@VERSION
@click.option(
    "--collector", type=click.Choice(COLLECTORS), default="prometheus-agent", show_default=True
)
@OUTPUT
def pipeline_render(
    template: str,
    variables: dict[str, Any],
    template_version: int | None,
    collector: str,
    output: str,
) -> None:
    """The complete collector config a variant with TEMPLATE and these variables would run
    (with example ports, targets and sink)."""
    body = {
        "template": template,
        "template_version": template_version,
        "variables": variables,
        "collector": collector,
    }
    with api_client() as client:
        rendered = client.render(body)
    if output == "json":
        click.echo(json.dumps(rendered, indent=2))
        return
    click.echo(rendered["config"].rstrip("\n"))


@pipeline.command("forecast")
@click.argument("template")
@VARIABLES
@VERSION
@click.option(
    "--inventory",
    type=click.File("r"),
    required=True,
    help="The series, as a JSON or YAML list of label maps ('__name__' required, '__value__'"
    " optional); '-' reads standard input.",
)
@click.option(
    "--collector",
    type=click.Choice(COLLECTORS),
    default=None,
    help="Also check the choice compiles for this collector on these series.",
)
@OUTPUT
def pipeline_forecast(  # noqa: PLR0917 - click passes every option by name or position
    template: str,
    variables: dict[str, Any],
    template_version: int | None,
    inventory: IO[str],
    collector: str | None,
    output: str,
) -> None:
    """How many series TEMPLATE with these variables keeps of an inventory: per metric and
    per step."""
    import yaml

    try:
        series = yaml.safe_load(inventory)
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"not JSON or YAML: {exc}", param_hint="--inventory") from exc
    if not isinstance(series, list):
        raise click.BadParameter("must be a list of label maps", param_hint="--inventory")
    body = {
        "template": template,
        "template_version": template_version,
        "variables": variables,
        "inventory": series,
        "collector": collector,
    }
    with api_client() as client:
        result = client.forecast(body)
    if output == "json":
        click.echo(json.dumps(result, indent=2))
        return
    for line in forecast_lines(result):
        click.echo(line)


def forecast_lines(result: dict[str, Any]) -> list[str]:
    """A forecast as a person reads it: the total, then per metric, then per step."""
    before, after = result["input_series"], result["output_series"]
    saved = 100 * (before - after) / before if before else 0.0
    lines = [f"Series: {before:,} -> {after:,} ({saved:.1f}% fewer)"]
    if result["protected"]:
        lines[0] += f"; {result['protected']:,} protected"
    lines += ["", f"{'METRIC':<40} {'BEFORE':>8} {'AFTER':>8} {'REDUCTION':>10}"]
    for m in result["per_metric"]:
        lines.append(
            f"{m['metric']:<40} {m['input_series']:>8,} {m['output_series']:>8,}"
            f" {m['reduction_percent']:>9.1f}%"
        )
    lines += ["", f"{'STEP':<4} {'KIND':<22} {'IN':>8} {'OUT':>8} {'REMOVED':>8}"]
    for s in result["waterfall"]:
        lines.append(
            f"{s['step']:<4} {s['kind']:<22} {s['series_in']:>8,} {s['series_out']:>8,}"
            f" {s['removed']:>8,}"
        )
    return lines
