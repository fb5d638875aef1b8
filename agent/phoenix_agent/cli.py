"""``phoenix-agent``: the command line of the host daemon."""

from __future__ import annotations

import json

import click

import phoenix_core
from phoenix_agent.settings import AgentSettings
from phoenix_core.errors import PhoenixError
from phoenix_core.settings import load_settings

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(phoenix_core.__version__, prog_name="phoenix-agent")
def main() -> None:
    """phoenix-agent: runs Phoenix experiment collectors and load on this host.

    Settings come from PHOENIX_AGENT_* environment variables (for example
    PHOENIX_AGENT_API_URL, PHOENIX_AGENT_ENROLMENT_TOKEN, PHOENIX_AGENT_STATE_DIR,
    PHOENIX_AGENT_LABELS as a JSON object).
    """


@main.command("settings")
def show_settings() -> None:
    """Print the settings in force as JSON (secrets hidden), then exit."""
    try:
        settings = load_settings(AgentSettings)
    except PhoenixError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(settings.model_dump(mode="json"), indent=2, sort_keys=True))
