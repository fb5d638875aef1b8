"""``phoenix experiment``: create, list, show, start, stop, watch and dry-run experiments through
the REST API."""

from __future__ import annotations

import json
from typing import IO, Any

import click

from phoenix_api.cli._common import OUTPUT, PhoenixGroup, api_client

__all__ = ["experiment"]


@click.group(cls=PhoenixGroup)
def experiment() -> None:
    """Experiments, through the REST API (PHOENIX_API_URL, PHOENIX_TOKEN)."""


@experiment.command("create")
@click.argument("spec_file", type=click.File("r"))
@OUTPUT
def experiment_create(spec_file: IO[str], output: str) -> None:
    """Create a draft from SPEC_FILE (YAML or JSON; '-' reads standard input)."""
    import yaml

    try:
        spec = yaml.safe_load(spec_file)
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"not YAML or JSON: {exc}", param_hint="SPEC_FILE") from exc
    with api_client() as client:
        created = client.create_experiment(spec)
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
    """One experiment."""
    with api_client() as client:
        _print_experiments([client.experiment(experiment_id)], output)


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


@experiment.command("watch")
@click.argument("experiment_id")
def experiment_watch(experiment_id: str) -> None:
    """Follow an experiment's events live until it ends (exit status 1 if it failed)."""
    ending = {"completed", "stopped", "failed"}
    with api_client() as client:
        for event in client.watch(experiment_id):
            data = event["data"]
            detail = data["data"]
            when = data["created_at"][:19].replace("T", " ")
            if "id" not in data:  # a live notice (a task update), not an audit event
                click.echo(f"{when}  {'':<32} {event['type']:<26} {_task_line(detail)}")
                continue
            change = f"{detail['from']} -> {detail['to']}" if "to" in detail else ""
            if "waiting_for" in detail:  # deploy_waiting
                change = f"{detail['variant']} on {detail['host']} waits: {detail['waiting_for']}"
            reason = f"  ({detail['reason']})" if detail.get("reason") else ""
            click.echo(f"{when}  {data['actor']:<32} {event['type']:<26} {change}{reason}")
            if detail.get("to") in ending:
                if detail["to"] == "failed":
                    raise SystemExit(1)
                return


def _task_line(detail: dict[str, Any]) -> str:
    line = (
        f"task {detail.get('task_id')} {detail.get('type')}/{detail.get('action')} "
        f"attempt {detail.get('attempt')}: {detail.get('status')}"
    )
    return f"{line}  ({detail['error_message']})" if detail.get("error_message") else line


@experiment.command("dry-run")
@click.argument("experiment_id")
@OUTPUT
def experiment_dry_run(experiment_id: str, output: str) -> None:
    """Every variant rendered for every host; nothing is deployed."""
    with api_client() as client:
        planned = client.dry_run(experiment_id)
    if output == "json":
        click.echo(json.dumps(planned, indent=2))
        return
    click.echo(f"{'HOST':<24} {'VARIANT':<16} {'COLLECTOR':<17} {'CONFIG':<14} WAITS FOR VALUES")
    for p in planned:
        waits = "yes" if p["needs_reference"] else "no"
        click.echo(
            f"{p['host']:<24} {p['variant']:<16} {p['collector']:<17} "
            f"{p['config_sha256'][:12]:<14} {waits}"
        )


def _print_experiments(items: list[dict[str, Any]], output: str) -> None:
    """Whole records (create, show) or summaries (list) alike."""
    if output == "json":
        click.echo(json.dumps(items, indent=2))
        return
    click.echo(f"{'ID':<36}  {'STATE':<11} {'VERDICT':<12} {'CREATED':<16}  NAME")
    for e in items:
        click.echo(
            f"{e['id']:<36}  {e['state']:<11} {e['verdict'] or '-':<12} "
            f"{e['created_at'][:16].replace('T', ' '):<16}  {e.get('name') or e['spec']['name']}"
        )
