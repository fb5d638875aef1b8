"""``phoenix host``: list hosts and decommission one, through the REST API."""

from __future__ import annotations

import json

import click

from phoenix_api.cli._common import OUTPUT, PhoenixGroup, api_client

__all__ = ["host"]


@click.group(cls=PhoenixGroup)
def host() -> None:
    """Hosts, through the REST API (PHOENIX_API_URL, PHOENIX_TOKEN)."""


@host.command("list")
@OUTPUT
def host_list(output: str) -> None:
    """Hosts with their status, labels and last heartbeat."""
    with api_client() as client:
        hosts = client.hosts()
    if output == "json":
        click.echo(json.dumps(hosts, indent=2))
        return
    click.echo(f"{'ID':<36}  {'HOSTNAME':<24} {'STATUS':<10} {'LAST HEARTBEAT':<19}  LABELS")
    for h in hosts:
        beat = (h["last_heartbeat"] or "-")[:19].replace("T", " ")
        labels = ",".join(f"{k}={v}" for k, v in sorted(h["labels"].items())) or "-"
        click.echo(f"{h['id']:<36}  {h['hostname']:<24} {h['status']:<10} {beat:<19}  {labels}")


@host.command("decommission")
@click.argument("host_id")
def host_decommission(host_id: str) -> None:
    """Take a host out of the fleet (admins)."""
    with api_client() as client:
        gone = client.decommission(host_id)
    click.echo(f"Host {gone['hostname']} is decommissioned.")
