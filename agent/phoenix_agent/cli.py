"""``phoenix-agent``: the command line of the host daemon."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

import click

import phoenix_core
from phoenix_agent.settings import load_agent_settings
from phoenix_core.errors import PhoenixError
from phoenix_core.logs import configure_logging

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(phoenix_core.__version__, prog_name="phoenix-agent")
def main() -> None:
    """phoenix-agent: runs Phoenix experiment collectors and load on this host.

    Settings come from PHOENIX_AGENT_* environment variables (for example
    PHOENIX_AGENT_API_URL, PHOENIX_AGENT_ENROLMENT_TOKEN, PHOENIX_AGENT_STATE_DIR,
    PHOENIX_AGENT_LABELS as a JSON object).
    """


def _labels(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str] | None:
    labels = {}
    for value in values:
        key, sep, label = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", ctx, param)
        labels[key] = label
    return labels or None


@main.command("run")
@click.option("--api-url", help="Base URL of the Phoenix API [PHOENIX_AGENT_API_URL].")
@click.option(
    "--enrolment-token",
    envvar="PHOENIX_AGENT_ENROLMENT_TOKEN",
    help="Enrolment token, used once to get this host's own token "
    "[PHOENIX_AGENT_ENROLMENT_TOKEN; prefer the variable: arguments are visible to others].",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the host's identity and status [PHOENIX_AGENT_STATE_DIR].",
)
@click.option(
    "--hostname", help="Name to enrol under [PHOENIX_AGENT_HOSTNAME; default: this host's]."
)
@click.option(
    "--label",
    "labels",
    multiple=True,
    callback=_labels,
    help="KEY=VALUE host label for experiment selectors; repeatable [PHOENIX_AGENT_LABELS].",
)
def run(
    api_url: str | None,
    enrolment_token: str | None,
    state_dir: Path | None,
    hostname: str | None,
    labels: dict[str, str] | None,
) -> None:
    """Serve this host until stopped: enrol once, then take tasks and send heartbeats.

    \b
    First start:  PHOENIX_AGENT_ENROLMENT_TOKEN=phx_e_... phoenix-agent run --api-url URL
    Later starts: phoenix-agent run (the host token is kept in the state folder)

    \b
    Signals: the first SIGTERM (or Ctrl-C) takes no new tasks, lets running ones finish and
    exits, leaving collectors and load running (the next start adopts them); the second also
    stops every collector and load it started; the third exits at once.
    Exit status: 0 after draining, 1 on bad settings, 2 when the API refuses this agent
    (token unknown or revoked): enrol again with a new enrolment token.
    """
    from phoenix_agent.runner import Agent

    try:
        settings = load_agent_settings(
            api_url=api_url,
            enrolment_token=enrolment_token,
            state_dir=state_dir,
            hostname=hostname,
            labels=labels,
        )
    except PhoenixError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.log_level)
    agent = Agent(settings)
    signals = 0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            agent.drain()
        elif signals == 2:
            logging.getLogger("phoenix_agent").warning(
                "second signal: stopping every collector and load"
            )
            agent.stop_children()
        else:
            logging.getLogger("phoenix_agent").warning("third signal: exiting now")
            os._exit(1)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        code = agent.run()
    except PhoenixError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


@main.command("settings")
def show_settings() -> None:
    """Print the settings in force as JSON (secrets hidden), then exit."""
    try:
        settings = load_agent_settings()
    except PhoenixError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(settings.model_dump(mode="json"), indent=2, sort_keys=True))
