"""``phoenix experiment``: create, list, show, start, stop, watch, dry-run and report experiments
through the REST API."""

from __future__ import annotations

import json
from typing import IO, Any

import click

from phoenix_api.cli._common import OUTPUT, PhoenixGroup, api_client
from phoenix_api.cli.report import DEFAULT_FLEET_HOSTS, fetch_report, report_lines
from phoenix_api.cli.views import (
    Waiting,
    dry_run_lines,
    event_line,
    experiment_lines,
    task_line,
)

__all__ = ["experiment"]


@click.group(cls=PhoenixGroup)
def experiment() -> None:
    """Experiments, through the REST API (PHOENIX_API_URL, PHOENIX_TOKEN)."""


@experiment.command("create")
@click.argument("spec_file", type=click.File("r"))
@click.option(
    "--output",
    type=click.Choice(["table", "json", "id"]),
    default="table",
    show_default=True,
    help="json: the record, as POST /api/v1/experiments answers it; id: only its id, for "
    "scripts (ID=$(phoenix experiment create spec.yaml --output id)).",
)
def experiment_create(spec_file: IO[str], output: str) -> None:
    """Create a draft from SPEC_FILE (YAML or JSON; '-' reads standard input)."""
    import yaml

    try:
        spec = yaml.safe_load(spec_file)
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"not YAML or JSON: {exc}", param_hint="SPEC_FILE") from exc
    with api_client() as client:
        created = client.create_experiment(spec)
    if output == "id":
        click.echo(created["id"])
    elif output == "json":
        click.echo(json.dumps(created, indent=2))
    else:
        _print_experiments([created], output)


@experiment.command("list")
@click.option("--state", default=None, help="Only experiments in this state.")
@click.option("--limit", type=int, default=50, show_default=True)
@OUTPUT
def experiment_list(state: str | None, limit: int, output: str) -> None:
    """Experiments, newest first."""
    with api_client() as client:
        _print_experiments(client.list_experiments(state, limit), output)


@experiment.command("show")
@click.argument("experiment_id")
@OUTPUT
def experiment_show(experiment_id: str, output: str) -> None:
    """One experiment: its state and why, its hosts, and its variants (role, template and,
    once analysed, the series each delivered). ``--output json``: the record, as
    ``GET /api/v1/experiments/{id}`` answers it."""
    from phoenix_core.errors import Conflict

    with api_client() as client:
        found = client.experiment(experiment_id)
        if output == "json":
            click.echo(json.dumps(found, indent=2))
            return
        try:
            kpis: dict[str, Any] | None = client.kpis(experiment_id)
        except Conflict:  # not analysed (yet)
            kpis = None
    for line in experiment_lines(found, kpis):
        click.echo(line)


@experiment.command("start")
@click.argument("experiment_id")
def experiment_start(experiment_id: str) -> None:
    """Validate and schedule a draft; the controller takes it from there."""
    with api_client() as client:
        started = client.start_experiment(experiment_id)
    click.echo(f"Experiment {started['id']} is {started['state']}.")


@experiment.command("stop")
@click.argument("experiment_id")
def experiment_stop(experiment_id: str) -> None:
    """Stop an experiment: its collectors and load are stopped."""
    with api_client() as client:
        stopped = client.stop_experiment(experiment_id)
    click.echo(f"Experiment {stopped['id']} is {stopped['state']}.")


PRICE_BOOK = click.option(
    "--price-book",
    default=None,
    help="Price the variants under this book (phoenix price-books list) [default: the API's,"
    " grafana-cloud-pro].",
)
FLEET_HOSTS = click.option(
    "--fleet-hosts",
    type=click.IntRange(min=1),
    default=DEFAULT_FLEET_HOSTS,
    show_default=True,
    help="Project the cost on a fleet of this many hosts.",
)


@experiment.command("report")
@click.argument("experiment_id")
@PRICE_BOOK
@FLEET_HOSTS
@click.option(
    "--scrape-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Project the cost at this scrape interval, seconds [default: the experiment's].",
)
@OUTPUT
def experiment_report(
    experiment_id: str,
    price_book: str | None,
    fleet_hosts: int,
    scrape_interval: float | None,
    output: str,
) -> None:
    """The verdict and its reasons, the KPI table with intervals, and the cost."""
    with api_client() as client:
        report = fetch_report(
            client,
            experiment_id,
            price_book=price_book,
            fleet_hosts=fleet_hosts,
            scrape_interval_seconds=scrape_interval,
        )
    if output == "json":
        click.echo(json.dumps(report.as_json(), indent=2))
        return
    for line in report_lines(report):
        click.echo(line)


@experiment.command("watch")
@click.argument("experiment_id")
@PRICE_BOOK
@FLEET_HOSTS
def experiment_watch(experiment_id: str, price_book: str | None, fleet_hosts: int) -> None:
    """Follow an experiment's events live until it ends, then print its report (as
    ``phoenix experiment report``) once completed; exit status 1 if it failed.

    Each task's line names its variant and host; while deploying, a "waiting for:" line says
    what each variant still waits for on each host whenever that changes."""
    ending = {"completed", "stopped", "failed"}
    waiting = Waiting()
    with api_client() as client:
        for event in client.watch(experiment_id):
            data = event["data"]
            detail = data["data"]
            when = data["created_at"][:19].replace("T", " ")
            if "id" not in data:  # a live notice (a task update), not an audit event
                click.echo(f"{when}  {'':<32} {event['type']:<26} {task_line(detail)}")
            else:
                line = event_line(event["type"], detail)
                click.echo(f"{when}  {data['actor']:<32} {event['type']:<26} {line}")
            if (summary := waiting.update(event["type"], detail)) is not None:
                click.echo(f"{'':<21}{'':<33}{'':<27}{summary}")
            if "id" not in data:
                continue
            if detail.get("to") in ending:
                if detail["to"] == "failed":
                    raise SystemExit(1)
                if detail["to"] == "completed":
                    click.echo("")
                    report = fetch_report(
                        client, experiment_id, price_book=price_book, fleet_hosts=fleet_hosts
                    )
                    for line in report_lines(report):
                        click.echo(line)
                return


@experiment.command("dry-run")
@click.argument("experiment_id")
@OUTPUT
def experiment_dry_run(experiment_id: str, output: str) -> None:
    """Every variant rendered for every host, each variant's forecast series (from the
    baseline's measured series once a started experiment has them, else from the load), and
    warnings where a candidate cannot save anything; nothing is deployed. ``--output json``:
    ``{plans, forecast, warnings}``, as ``POST /api/v1/experiments/{id}/dry-run`` answers."""
    with api_client() as client:
        answer = client.dry_run(experiment_id)
    if output == "json":
        click.echo(json.dumps(answer, indent=2))
        return
    for line in dry_run_lines(answer):
        click.echo(line)


def _print_experiments(items: list[dict[str, Any]], output: str) -> None:
    """Whole records (create) or summaries (list) alike."""
    if output == "json":
        click.echo(json.dumps(items, indent=2))
        return
    click.echo(f"{'ID':<36}  {'STATE':<11} {'VERDICT':<12} {'CREATED':<16}  NAME")
    for e in items:
        click.echo(
            f"{e['id']:<36}  {e['state']:<11} {e['verdict'] or '-':<12} "
            f"{e['created_at'][:16].replace('T', ' '):<16}  {e.get('name') or e['spec']['name']}"
        )
