"""``phoenix demo`` and its run: one experiment end to end on this machine, on the embedded SQLite
default.

It starts, as plain child processes in a folder of its own: a Prometheus that receives the
collectors' remote writes (and answers the controller's queries for the baseline's values),
``phoenix api serve`` (SQLite, with its controller), and ``phoenix-agent run`` enrolled as host
``demo-host``. Then, through the REST API: an A/B/n experiment — the baseline pipeline and
two candidates (keep the 20 busiest processes; drop the processes below a CPU threshold) —
under the ``high-cardinality`` load, with real Prometheus agents on the host; it follows the
experiment's events live until it ends, and prints, per variant, the series the receiving
Prometheus got over the run's last minute next to what the forecast simulator predicted from
the baseline's measured series; then the experiment's report (the verdict the controller judged
from the measurements, its reasons, the KPI table and the savings on 100 hosts under the default
price book) and the collectors' CPU and memory by both paths. Everything it started is stopped
at the end (also on Ctrl-C). The run imports its heavier modules (the store, the clients) only
when it runs, so that every other ``phoenix`` command starts as fast as before.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from phoenix_core.auth import Role, TokenKind
from phoenix_core.errors import ConfigurationError
from phoenix_core.wire import labels

if TYPE_CHECKING:
    from phoenix_core.client import PhoenixClient
    from phoenix_core.metrics.reader import PrometheusReader

__all__ = ["demo", "run_demo"]

BIN = Path(sys.executable).parent
HOST = "demo-host"
ENDING = {"completed", "stopped", "failed"}
FLEET_SCRAPE_INTERVAL = 15.0
"""The scrape interval the demo prices a fleet at (its own run scrapes every 2 s)."""


@click.command("demo")
@click.option("--series", default=200, show_default=True, help="Simulated processes per metric.")
@click.option("--warmup", default=10.0, show_default=True, help="Warm-up, seconds.")
@click.option(
    "--duration",
    default=46.0,
    show_default=True,
    help="Measured run, seconds: 46 s gives the verdict 20 points per KPI (2 s scrapes).",
)
@click.option("--keep", is_flag=True, help="Keep the demo folder (database, logs) afterwards.")
def demo(series: int, warmup: float, duration: float, keep: bool) -> None:
    """Run one experiment end to end on this machine (SQLite, real collectors).

    Starts a receiving Prometheus, the API with its controller and an agent (as child
    processes, in a temporary folder), runs a baseline against two candidate pipelines under
    a high-cardinality load, follows it live, prints each variant's measured series next to
    the forecast, then the verdict with its reasons, the KPI table and the monthly savings.
    With the dashboards extra installed, the API also serves the dashboards while the demo
    runs: it prints their URL.
    Stops everything it started at the end. Exit status 0 when the experiment completed.
    """
    code = run_demo(series=series, warmup=warmup, duration=duration, keep=keep, echo=click.echo)
    raise SystemExit(code)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_range(count: int) -> int:
    """The first of ``count`` consecutive free ports below the ephemeral range (32768 and up on
    Linux), where no outgoing connection can take one while the demo runs."""
    for _ in range(200):
        start = random.randrange(20_000, 32_000 - count)  # noqa: S311 (not a secret)
        try:
            for port in range(start, start + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return start
    raise ConfigurationError(f"No {count} consecutive free ports between 20000 and 32000.")


def _until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise ConfigurationError(f"The demo gave up waiting until {what}.")
        time.sleep(0.2)


@contextmanager
def _process(
    command: list[str], env: dict[str, str], log: Path, *, stdout: int | IO[Any] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """A child in its own process group; SIGTERM (then SIGKILL) to the group at the end."""
    from phoenix_core.processes import stop_process_group

    with log.open("a") as out:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=stdout if stdout is not None else out,
            stderr=out,
            text=True,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop_process_group(process, grace_seconds=30)


def _stop_leftovers(folder: Path) -> None:
    """Stop what the agent started in ``folder`` (collectors, load): SIGTERM, then SIGKILL."""
    import psutil

    found = [
        p
        for p in psutil.process_iter(["cmdline", "cwd"])
        if (p.info["cwd"] or "").startswith(str(folder))
        or any(str(folder) in arg for arg in p.info["cmdline"] or [])
    ]
    for process in found:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(found, timeout=10)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


def _dashboards_installed() -> bool:
    """Whether this install has the dashboards (the dashboards extra), without importing them."""
    import importlib.util

    return all(importlib.util.find_spec(name) for name in ("panel", "bokeh_fastapi"))


def _ready(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def spec(series: int, warmup: float, duration: float) -> dict[str, Any]:
    return {
        "name": "demo: keep the busiest processes",
        "description": "Baseline against a top-20 keep-list and a CPU floor, under load.",
        "variants": [
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {"name": "top20", "role": "candidate", "template": "top-k", "variables": {"k": 20}},
            {
                "name": "cpu-floor",
                "role": "candidate",
                "template": "adaptive-filter",
                "variables": {"threshold": 100.0},
            },
        ],
        "collector": "prometheus-agent",
        "hosts": [HOST],
        "sources": [{"name": "loadsim", "kind": "loadsim"}],
        "load_profile": {"name": "high-cardinality", "parameters": {"series": series}},
        "warmup_seconds": warmup,
        "duration_seconds": duration,
    }


def run_demo(  # noqa: PLR0915 (one story, told in order)
    *, series: int, warmup: float, duration: float, keep: bool, echo: Callable[[str], None]
) -> int:
    """Run the demo; the exit status (0 when the experiment completed)."""
    from phoenix_core.client import PhoenixClient
    from phoenix_core.metrics.reader import PrometheusReader
    from phoenix_core.store.database import make_engine
    from phoenix_core.store.migrate import upgrade
    from phoenix_core.store.session import Store
    from phoenix_core.store.tokens import TokenRepository

    prometheus_binary = shutil.which("prometheus")
    if prometheus_binary is None:
        raise ConfigurationError("The demo needs Prometheus: ./dev.sh setup installs it.")
    folder = Path(tempfile.mkdtemp(prefix="phoenix-demo-"))
    with ExitStack() as stack:
        if not keep:
            stack.callback(shutil.rmtree, folder, True)
        fate = "kept" if keep else "removed"
        echo(f"Demo folder: {folder} (SQLite database, logs; {fate} at the end)")
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
        # 1. the receiving Prometheus
        prom_port = _free_port()
        prom_url = f"http://127.0.0.1:{prom_port}"
        (folder / "prometheus.yml").write_text("global: {scrape_interval: 2s}\n")
        stack.enter_context(
            _process(
                [
                    prometheus_binary,
                    f"--config.file={folder / 'prometheus.yml'}",
                    f"--storage.tsdb.path={folder / 'prometheus-data'}",
                    "--web.enable-remote-write-receiver",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                base_env,
                folder / "prometheus.log",
            )
        )
        _until(lambda: _ready(f"{prom_url}/-/ready"), "Prometheus was ready")
        echo(f"Prometheus (receives the collectors' writes): {prom_url}")
        # 2. the database, tokens, and the API with its controller
        database_url = f"sqlite:///{folder / 'phoenix.db'}"
        engine = make_engine(database_url)
        upgrade(engine)
        with Store(engine).session() as session:
            tokens = TokenRepository(session)
            _, operator = tokens.create(TokenKind.USER, "demo", actor="demo", role=Role.OPERATOR)
            _, enrolment = tokens.create(TokenKind.ENROLMENT, "demo", actor="demo")
        engine.dispose()
        ports = free_port_range(41)
        api_env = base_env | {
            "PHOENIX_DATABASE_URL": database_url,
            "PHOENIX_LOG_LEVEL": "warning",
            "PHOENIX_CONTROLLER_INTERVAL_SECONDS": "0.5",
            "PHOENIX_CONTROLLER_SCRAPE_INTERVAL_SECONDS": "2",
            "PHOENIX_CONTROLLER_ANALYSIS_SETTLE_SECONDS": "6",
            "PHOENIX_CONTROLLER_PROMETHEUS_URL": prom_url,
            "PHOENIX_CONTROLLER_REMOTE_WRITE_URL": f"{prom_url}/api/v1/write",
            "PHOENIX_CONTROLLER_PORT_RANGE_START": str(ports),
            "PHOENIX_CONTROLLER_PORT_RANGE_END": str(ports + 40),
            "PHOENIX_DASHBOARDS": str(_dashboards_installed()).lower(),
        }
        api = stack.enter_context(
            _process(
                [str(BIN / "phoenix"), "api", "serve", "--port", "0"],
                api_env,
                folder / "api.log",
                stdout=subprocess.PIPE,
            )
        )
        assert api.stdout is not None
        first = api.stdout.readline()
        if not first.startswith("Phoenix API listening on "):
            raise ConfigurationError(f"The API did not start; see {folder / 'api.log'}.")
        api_url = first.split()[4]
        echo(first.strip())
        if api_env["PHOENIX_DASHBOARDS"] == "true":
            echo(
                f"Dashboards: {api_url}/dashboards/ while the demo runs (a token to log in with:"
                f" PHOENIX_DATABASE_URL={database_url} phoenix token create NAME --role viewer)"
            )
        # 3. the agent (a drained agent leaves its collectors running: stop them after it)
        stack.callback(_stop_leftovers, folder)
        agent_env = base_env | {
            "PHOENIX_AGENT_API_URL": api_url,
            "PHOENIX_AGENT_ENROLMENT_TOKEN": enrolment,
            "PHOENIX_AGENT_STATE_DIR": str(folder / "agent"),
            "PHOENIX_AGENT_HOSTNAME": HOST,
            "PHOENIX_AGENT_HEARTBEAT_SECONDS": "2",
            "PHOENIX_AGENT_METRICS_SECONDS": "2",  # collector CPU and RSS: a sample a scrape
        }
        stack.enter_context(
            _process([str(BIN / "phoenix-agent"), "run"], agent_env, folder / "agent.log")
        )
        client = stack.enter_context(PhoenixClient(api_url, operator))
        _until(lambda: any(h["status"] == "healthy" for h in client.hosts()), "the agent enrolled")
        echo(f"phoenix-agent enrolled as {HOST}")
        # 4. the experiment
        experiment = client.create_experiment(spec(series, warmup, duration))
        experiment_id = experiment["id"]
        echo(f"Experiment {experiment_id}: {experiment['spec']['name']}")
        for planned in client.dry_run(experiment_id)["plans"]:
            sha = planned["config_sha256"][:12]
            echo(f"  {planned['variant']:<10} {planned['collector']} config {sha}")
        client.start_experiment(experiment_id)
        state = ""
        for event in client.watch(experiment_id):
            data, detail = event["data"], event["data"]["data"]
            when = data["created_at"][11:19]
            if "id" not in data:  # a live task update
                echo(f"  {when}  task {detail['type']}/{detail['action']}: {detail['status']}")
            elif "waiting_for" in detail:  # a candidate waits for the baseline's inventory
                echo(f"  {when}  {detail['variant']} waits: {detail['waiting_for']}")
            elif "to" in detail:
                reason = f"  ({detail['reason']})" if detail.get("reason") else ""
                echo(f"  {when}  {detail['from']} -> {detail['to']}{reason}")
                state = detail["to"]
                if state in ENDING:
                    break
        final = client.experiment(experiment_id)
        with PrometheusReader(prom_url, timeout=30) as prometheus:
            _report(client, prometheus, final, duration, echo)
        return 0 if state == "completed" else 1


def _report(
    client: PhoenixClient,
    prometheus: PrometheusReader,
    experiment: dict[str, Any],
    duration: float,
    echo: Callable[[str], None],
) -> None:
    """Measured series per variant (at the receiver, over the run's last minute) next to the
    forecast from the baseline's measured series."""
    experiment_id = experiment["id"]
    window = f"{max(int(min(duration, 60)), 10)}s"
    selector = f'{labels.matchers(experiment_id)},job="loadsim"'
    counts = prometheus.instant(
        f"count by ({labels.VARIANT}) (last_over_time({{{selector}}}[{window}]))"
    )
    measured = {str(row[labels.VARIANT]): int(row["value"]) for row in counts.to_dict("records")}
    baseline_selector = f"{selector},{labels.matchers(variant='baseline')}"
    found = prometheus.instant(f"last_over_time({{{baseline_selector}}}[{window}])")
    added = {*labels.IDENTITY_LABELS, "timestamp", "value"}
    inventory = [
        {k: v for k, v in row.items() if k not in added and v != ""} | {"__value__": row["value"]}
        for row in found.to_dict("records")
    ]
    echo("")
    echo(f"Series per variant at the receiving Prometheus, distinct over the last {window}:")
    echo(f"  {'variant':<10} {'template':<16} {'measured':>9} {'forecast':>9} {'vs baseline':>12}")
    baseline = measured.get("baseline", 0)
    for variant in experiment["spec"]["variants"]:
        choice = {"template": variant["template"], "variables": variant.get("variables", {})}
        forecast = client.forecast(choice | {"inventory": inventory})["output_series"]
        got = measured.get(variant["name"], 0)
        change = f"{(got - baseline) / baseline * 100:+.1f} %" if baseline else "n/a"
        echo(
            f"  {variant['name']:<10} {variant['template']:<16} {got:>9} {forecast:>9} {change:>12}"
        )
    echo(f"Experiment {experiment['state']}, verdict {experiment['verdict'] or '-'}.")
    if experiment["state"] != "completed":
        return
    from phoenix_api.cli.report import DEFAULT_FLEET_HOSTS, fetch_report, report_lines

    echo("")
    # the demo scrapes every 2 s to decide within minutes; a fleet scrapes every 15 s, and
    # per-sample meters (Grafana's DPM, AMP, GMP) bill 7.5 times less at that interval
    report = fetch_report(
        client,
        experiment_id,
        price_book=None,
        fleet_hosts=DEFAULT_FLEET_HOSTS,
        scrape_interval_seconds=FLEET_SCRAPE_INTERVAL,
    )
    for line in report_lines(report):
        echo(line)
    _two_paths(client, prometheus, experiment, echo)


def _two_paths(
    client: PhoenixClient,
    prometheus: PrometheusReader,
    experiment: dict[str, Any],
    echo: Callable[[str], None],
) -> None:
    """The collectors' CPU and memory as the verdict read them (the agents' metrics cache, no
    Prometheus needed) next to the collectors' own process metrics at the receiver."""
    from phoenix_core.metrics.catalog import QueryScope, builtin_catalog, render

    kpis = client.kpis(experiment["id"])
    window_seconds = (
        datetime.fromisoformat(kpis["window_end"]) - datetime.fromisoformat(kpis["window_start"])
    ).total_seconds()
    scope = QueryScope(experiment["id"], ["loadsim"], window_seconds)
    catalog = builtin_catalog()
    echo("")
    echo(
        f"Collector CPU (cores) and RSS (MB) over the {window_seconds:g} s window, two paths:"
        " the agent's metrics cache (what the verdict used) and the collector's own process"
        " metrics at the receiving Prometheus"
    )
    echo(f"  {'variant':<10} {'CPU cache':>10} {'CPU prom':>10} {'RSS cache':>10} {'RSS prom':>10}")
    cached = {
        (row["kpi"], row["variant"]): row["value"]
        for row in kpis["kpis"]
        if row["host"] == HOST and row["value"] is not None
    }
    at = datetime.fromisoformat(kpis["window_end"])
    found = {}
    for name in ("collector_cpu_cores", "collector_rss_bytes"):
        template = catalog.get(name).query_for(experiment["spec"]["collector"]) or ""
        frame = prometheus.instant(render(template, scope), at=at)
        for row in frame.to_dict("records"):
            found[(name, row[labels.VARIANT])] = float(row["value"])

    def show(value: float | None, scale: float) -> str:
        return "no data" if value is None else f"{value / scale:.3f}"

    for variant in experiment["spec"]["variants"]:
        name = variant["name"]
        echo(
            f"  {name:<10} {show(cached.get(('collector_cpu_cores', name)), 1):>10}"
            f" {show(found.get(('collector_cpu_cores', name)), 1):>10}"
            f" {show(cached.get(('collector_rss_bytes', name)), 1e6):>10}"
            f" {show(found.get(('collector_rss_bytes', name)), 1e6):>10}"
        )
