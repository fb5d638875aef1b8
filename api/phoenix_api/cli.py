"""``phoenix``: the command line of the Phoenix control plane.

Server-side commands (``api serve``, ``db …``) act on the database directly; commands that act
on experiments and hosts come with the REST API and go through ``phoenix_core.client``.
"""

from __future__ import annotations

import gc
import getpass
import json
import logging
import re
import resource
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any

import click

import phoenix_core
from phoenix_core.auth import Role, TokenKind
from phoenix_core.errors import ConfigurationError, PhoenixError
from phoenix_core.logs import configure_logging
from phoenix_core.settings import DatabaseSettings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from phoenix_core.client import PhoenixClient
    from phoenix_core.store.session import Store
    from phoenix_core.store.tokens import TokenRecord, TokenRepository

__all__ = ["main"]

log = logging.getLogger(__name__)


class _PhoenixGroup(click.Group):
    """Turns every ``PhoenixError`` into one line on stderr and exit status 1: no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PhoenixError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_PhoenixGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(phoenix_core.__version__, prog_name="phoenix")
def main() -> None:
    """Phoenix: prove with measurements which collector pipeline a fleet should run.

    Settings come from PHOENIX_* environment variables; the database is
    PHOENIX_DATABASE_URL (unset: a SQLite file in PHOENIX_DATA_DIR, by default
    ~/.local/share/phoenix).
    """


@main.group(cls=_PhoenixGroup)
def db() -> None:
    """Database schema: upgrade it, or show where it stands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the newest schema (safe to run from several processes at once)."""
    from phoenix_core.store.database import describe, parse_database_url
    from phoenix_core.store.migrate import prepare_database

    settings = load_settings(DatabaseSettings)
    configure_logging("WARNING")
    engine, status = prepare_database(settings.effective_database_url)
    engine.dispose()
    url = describe(parse_database_url(settings.effective_database_url))
    click.echo(f"Database {url} is at migration {status.current} (head).")


@db.command("status")
def db_status() -> None:
    """Show the database's migration and this code's newest one."""
    from phoenix_core.store.database import connect, make_engine
    from phoenix_core.store.migrate import schema_status

    settings = load_settings(DatabaseSettings)
    engine = make_engine(settings.effective_database_url)
    try:
        connect(engine)
        status = schema_status(engine)
    finally:
        engine.dispose()
    click.echo(
        f"current: {status.current or 'none'}\nhead:    {status.head}\nstate:   {status.state}"
    )


@main.group(cls=_PhoenixGroup)
def api() -> None:
    """The control-plane API server."""


@api.command("serve")
@click.option("--host", default=None, help="Address to listen on [env PHOENIX_HOST; 127.0.0.1].")
@click.option(
    "--port", type=int, default=None, help="Port; 0 picks a free one [env PHOENIX_PORT; 8000]."
)
def api_serve(host: str | None, port: int | None) -> None:
    """Migrate the database to head, then serve the API until interrupted.

    Prints the address it listens on as its first line of output.
    """
    import uvicorn

    from phoenix_api.app import create_app
    from phoenix_api.settings import ApiSettings
    from phoenix_core.store.database import describe, parse_database_url
    from phoenix_core.store.migrate import prepare_database

    settings = load_settings(ApiSettings, host=host, port=port)
    configure_logging(settings.log_level)
    _raise_open_file_limit()
    engine, status = prepare_database(settings.effective_database_url)
    engine.dispose()
    sock = _listen(settings.host, settings.port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    database = describe(parse_database_url(settings.effective_database_url))
    click.echo(
        f"Phoenix API listening on http://{shown_host}:{bound_port} "
        f"(database {database}, schema {status.current})"
    )
    config = uvicorn.Config(
        create_app(settings),
        log_level=settings.log_level.lower(),
        log_config=None,  # keep the logging configured above
        access_log=False,
        timeout_keep_alive=settings.keep_alive_seconds,
    )
    # What start-up built (modules, the app, its models: ~200,000 objects) lives as long as
    # the process. Frozen out of the collector's sight, a full collection scans only what came
    # after: ~3 ms instead of ~100 ms, a pause every request in flight would wait out.
    gc.collect()
    gc.freeze()
    # What comes after is mostly long-polls: each held one is ~170 tracked objects (its
    # coroutines through every middleware, closures, the request), 1,000 of them ~170,000. A
    # fleet's re-polls renew them all every half minute, each time growing the oldest
    # generation by more than the quarter that lets a full collection run; each then stops
    # every request for 50-190 ms and finds next to nothing to free (0-3,500 objects, measured
    # under bench/api.py's fleet: a finished poll is freed by its reference count). So full
    # collections run on a clock instead (PHOENIX_FULL_COLLECTION_SECONDS: the rare garbage
    # cycles wait up to that long to be freed), the younger generations as Python runs them.
    gc.set_threshold(700, 10, _NEVER)
    _collect_fully_every(settings.full_collection_seconds)
    uvicorn.Server(config).run(sockets=[sock])


_NEVER = 2**31 - 1
"""A threshold the count of middle-generation collections never reaches."""


def _collect_fully_every(seconds: float) -> None:
    """A full garbage collection every ``seconds``, on a thread of its own (it holds the GIL
    while it runs, as one the collector started would)."""

    def collect() -> None:
        while True:
            time.sleep(seconds)
            gc.collect()

    threading.Thread(target=collect, name="phoenix-full-collection", daemon=True).start()


@main.command("demo")
@click.option("--series", default=200, show_default=True, help="Simulated processes per metric.")
@click.option("--warmup", default=10.0, show_default=True, help="Warm-up, seconds.")
@click.option("--duration", default=40.0, show_default=True, help="Measured run, seconds.")
@click.option("--keep", is_flag=True, help="Keep the demo folder (database, logs) afterwards.")
def demo(series: int, warmup: float, duration: float, keep: bool) -> None:
    """Run one experiment end to end on this machine (SQLite, real collectors).

    Starts a receiving Prometheus, the API with its controller and an agent (as child
    processes, in a temporary folder), runs a baseline against two candidate pipelines under
    a high-cardinality load, follows it live, and prints each variant's measured series next
    to the forecast. Stops everything it started at the end. Exit status 0 when the experiment
    completed.
    """
    from phoenix_api.demo import run_demo

    code = run_demo(series=series, warmup=warmup, duration=duration, keep=keep, echo=click.echo)
    raise SystemExit(code)


@main.group(cls=_PhoenixGroup)
def controller() -> None:
    """The experiment controller (one acts per database; others stand by)."""


@controller.command("run")
def controller_run() -> None:
    """Run the controller loop until interrupted (SIGTERM or Ctrl-C).

    Settings: PHOENIX_DATABASE_URL and PHOENIX_CONTROLLER_* (interval, port range, timeouts,
    PROMETHEUS_URL, REMOTE_WRITE_URL, ...). With several processes on one PostgreSQL database,
    exactly one acts at a time and another takes over when it dies.
    """
    import signal
    import threading

    from phoenix_api.settings import ApiSettings
    from phoenix_core.controller import Controller, ControllerSettings
    from phoenix_core.queue import open_queue
    from phoenix_core.store.database import describe, parse_database_url
    from phoenix_core.store.migrate import prepare_database
    from phoenix_core.store.session import Store

    settings = load_settings(ApiSettings)
    controller_settings = load_settings(ControllerSettings)
    configure_logging(settings.log_level)
    engine, _ = prepare_database(settings.effective_database_url)
    queue = open_queue(engine)
    loop = Controller.build(Store(engine), queue, controller_settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    database = describe(parse_database_url(settings.effective_database_url))
    click.echo(f"Phoenix controller {loop.instance} running on {database}")
    try:
        loop.run(stop)
    finally:
        queue.close()
        engine.dispose()


@contextmanager
def _store() -> Iterator[Store]:
    """The database of the settings in force, at head, for server-side commands."""
    from phoenix_core.store.migrate import prepare_database
    from phoenix_core.store.session import Store

    settings = load_settings(DatabaseSettings)
    configure_logging("WARNING")
    engine, _ = prepare_database(settings.effective_database_url)
    try:
        yield Store(engine)
    finally:
        engine.dispose()


def _tokens(session: Session) -> TokenRepository:
    from phoenix_core.store.tokens import TokenRepository

    return TokenRepository(session)


def _cli_actor() -> str:
    return f"cli:{getpass.getuser()}@{socket.gethostname()}"


_DURATION = re.compile(r"^(\d+)([smhd])$")


def _duration(text: str | None) -> timedelta | None:
    if text is None:
        return None
    match = _DURATION.match(text)
    if not match:
        raise click.BadParameter(
            f"{text!r} is not a duration like 90m, 12h or 30d", param_hint="'--expires-in'"
        )
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


_EXPIRES = click.option(
    "--expires-in",
    default=None,
    metavar="DURATION",
    help="Lifetime, e.g. 12h or 30d (none: no expiry).",
)
_OUTPUT = click.option(
    "--output", type=click.Choice(["table", "json"]), default="table", show_default=True
)


@main.group(cls=_PhoenixGroup)
def token() -> None:
    """Users' API tokens (roles viewer, operator, admin)."""


@token.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@_EXPIRES
def token_create(name: str, role: str, expires_in: str | None) -> None:
    """Create a token for NAME and print it once (only its hash is stored)."""
    _create_token(TokenKind.USER, name, Role(role), expires_in, f"Token for {name} (role {role}")


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke NAME's token: requests carrying it are refused from now on."""
    _revoke_token(TokenKind.USER, name, f"Revoked the token of {name}.")


@token.command("list")
@_OUTPUT
def token_list(output: str) -> None:
    """List tokens (names, kinds, roles, dates; never their values)."""
    with _store() as store, store.session() as session:
        records = _tokens(session).list()
    _print_tokens(records, output)


@main.group("enrolment-token", cls=_PhoenixGroup)
def enrolment_token() -> None:
    """Enrolment tokens: an agent exchanges one for its host's own token."""


@enrolment_token.command("create")
@click.argument("name")
@_EXPIRES
def enrolment_token_create(name: str, expires_in: str | None) -> None:
    """Create an enrolment token NAME and print it once."""
    _create_token(TokenKind.ENROLMENT, name, None, expires_in, f"Enrolment token {name} (")


@enrolment_token.command("revoke")
@click.argument("name")
def enrolment_token_revoke(name: str) -> None:
    """Revoke the enrolment token NAME (hosts already enrolled keep their own tokens)."""
    _revoke_token(TokenKind.ENROLMENT, name, f"Revoked the enrolment token {name}.")


def _create_token(
    kind: TokenKind, name: str, role: Role | None, expires_in: str | None, title: str
) -> None:
    """Create a token; its value goes to stdout (once), the explanation to stderr."""
    with _store() as store, store.session() as session:
        record, value = _tokens(session).create(
            kind, name, actor=_cli_actor(), role=role, expires_in=_duration(expires_in)
        )
    expiry = f"expires {record.expires_at:%Y-%m-%d %H:%M} UTC" if record.expires_at else "no expiry"
    click.echo(f"{title}{', ' if role else ''}{expiry}); it is shown only now:", err=True)
    click.echo(value)


def _revoke_token(kind: TokenKind, name: str, done: str) -> None:
    with _store() as store, store.session() as session:
        _tokens(session).revoke(kind, name, actor=_cli_actor())
    click.echo(done)


def _print_tokens(records: Sequence[TokenRecord], output: str) -> None:
    if output == "json":
        click.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return
    click.echo(f"{'KIND':<10} {'NAME':<24} {'ROLE':<9} {'CREATED':<17} {'EXPIRES':<17} STATE")
    for r in records:
        state = "revoked" if r.revoked_at else "live"
        expires = f"{r.expires_at:%Y-%m-%d %H:%M}" if r.expires_at else "-"
        click.echo(
            f"{r.kind.value:<10} {r.name:<24} {r.role.value if r.role else '-':<9} "
            f"{r.created_at:%Y-%m-%d %H:%M} {expires:<17} {state}"
        )


def _client() -> PhoenixClient:
    from phoenix_core.client import ClientSettings

    return load_settings(ClientSettings).client()


@main.group(cls=_PhoenixGroup)
def experiment() -> None:
    """Experiments, through the REST API (PHOENIX_API_URL, PHOENIX_TOKEN)."""


@experiment.command("create")
@click.argument("spec_file", type=click.File("r"))
@_OUTPUT
def experiment_create(spec_file: IO[str], output: str) -> None:
    """Create a draft from SPEC_FILE (YAML or JSON; '-' reads standard input)."""
    import yaml

    try:
        spec = yaml.safe_load(spec_file)
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"not YAML or JSON: {exc}", param_hint="SPEC_FILE") from exc
    with _client() as client:
        created = client.create_experiment(spec)
    _print_experiments([created], output)


@experiment.command("list")
@click.option("--state", default=None, help="Only experiments in this state.")
@click.option("--limit", type=int, default=50, show_default=True)
@_OUTPUT
def experiment_list(state: str | None, limit: int, output: str) -> None:
    """Experiments, newest first."""
    with _client() as client:
        _print_experiments(client.list_experiments(state, limit), output)


@experiment.command("show")
@click.argument("experiment_id")
@_OUTPUT
def experiment_show(experiment_id: str, output: str) -> None:
    """One experiment."""
    with _client() as client:
        _print_experiments([client.experiment(experiment_id)], output)


@experiment.command("start")
@click.argument("experiment_id")
def experiment_start(experiment_id: str) -> None:
    """Validate and schedule a draft; the controller takes it from there."""
    with _client() as client:
        started = client.start_experiment(experiment_id)
    click.echo(f"Experiment {started['id']} is {started['state']}.")


@experiment.command("stop")
@click.argument("experiment_id")
def experiment_stop(experiment_id: str) -> None:
    """Stop an experiment: its collectors and load are stopped."""
    with _client() as client:
        stopped = client.stop_experiment(experiment_id)
    click.echo(f"Experiment {stopped['id']} is {stopped['state']}.")


@experiment.command("watch")
@click.argument("experiment_id")
def experiment_watch(experiment_id: str) -> None:
    """Follow an experiment's events live until it ends (exit status 1 if it failed)."""
    ending = {"completed", "stopped", "failed"}
    with _client() as client:
        for event in client.watch(experiment_id):
            data = event["data"]
            detail = data["data"]
            when = data["created_at"][:19].replace("T", " ")
            if "id" not in data:  # a live notice (a task update), not an audit event
                click.echo(f"{when}  {'':<32} {event['type']:<26} {_task_line(detail)}")
                continue
            change = f"{detail['from']} -> {detail['to']}" if "to" in detail else ""
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
@_OUTPUT
def experiment_dry_run(experiment_id: str, output: str) -> None:
    """Every variant rendered for every host; nothing is deployed."""
    with _client() as client:
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


@main.group(cls=_PhoenixGroup)
def host() -> None:
    """Hosts, through the REST API (PHOENIX_API_URL, PHOENIX_TOKEN)."""


@host.command("list")
@_OUTPUT
def host_list(output: str) -> None:
    """Hosts with their status, labels and last heartbeat."""
    with _client() as client:
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
    with _client() as client:
        gone = client.decommission(host_id)
    click.echo(f"Host {gone['hostname']} is decommissioned.")


def _raise_open_file_limit() -> None:
    """Lift the soft limit on open files to the hard one, as Go programs do as they start:
    each agent holds a connection (its long-poll) and often a second, and the soft limit of
    a login shell is often 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or (soft >= hard and hard != resource.RLIM_INFINITY):
        return
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (OSError, ValueError) as exc:
        log.warning("open files stay limited to %d (raising to %d failed: %s)", soft, wanted, exc)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from exc
    return sock
