"""What a newcomer meets with the ``phoenix`` CLI against a real ``phoenix api serve``: the
settings named in every error, unknown variables warned about, the token never printed, a URL
that is not a Phoenix API said so, and ``show``, ``watch`` and ``pipeline`` telling enough."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from support.control_plane import cli_token, online_host, receiving_at
from support.processes import BIN, api_server, run_cli
from support.prometheus import PrometheusServer
from support.specs import NO_LOAD, spec_data


class Api:
    def __init__(self, url: str, data_dir: Path, operator: str, host_token: str) -> None:
        self.url, self.data_dir, self.host_token = url, data_dir, host_token
        self.env = {"PHOENIX_API_URL": url, "PHOENIX_TOKEN": operator}


@pytest.fixture
def api(tmp_path: Path, receiver: PrometheusServer) -> Iterator[Api]:
    env = {
        "PHOENIX_DATA_DIR": str(tmp_path),
        "PHOENIX_CONTROLLER_INTERVAL_SECONDS": "0.2",
        "PHOENIX_CONTROLLER_DEPLOY_TIMEOUT_SECONDS": "30",
        **receiving_at(receiver),
    }
    operator = cli_token(env, "token", "create", "olga", "--role", "operator")
    enrol = cli_token(env, "enrolment-token", "create", "rack-1")
    with api_server(env) as (url, _):
        yield Api(url, tmp_path, operator, online_host(url, enrol))


SLIM = {
    "name": "slim",
    "role": "candidate",
    "template": "drop-labels",
    "variables": {"labels": ["pid"]},
}


def _spec(candidate: dict[str, Any] = SLIM, **overrides: Any) -> dict[str, Any]:
    sink = {"kind": "prometheus-remote-write"}  # the controller's remote_write_url
    data = spec_data(hosts=["web-1"], host_selector=None, sink=sink, **NO_LOAD)
    data |= overrides
    data["variants"] = [{"name": "baseline", "role": "baseline", "template": "baseline"}, candidate]
    return data


def _create(api: Api, tmp_path: Path, candidate: dict[str, Any] = SLIM, **overrides: Any) -> str:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(_spec(candidate, **overrides)))
    command = ["experiment", "create", str(spec_file), "--output", "id"]
    created = run_cli("phoenix", command, api.env)
    assert created.returncode == 0, created.stderr
    assert re.fullmatch(r"[0-9a-f-]{36}\n", created.stdout), created.stdout  # the id alone
    return created.stdout.strip()


def test_settings_are_named_in_errors_and_the_token_never_printed(api: Api) -> None:
    missing = run_cli("phoenix", ["experiment", "list"], {"PHOENIX_API_URL": api.url})
    assert missing.returncode == 1
    assert missing.stderr.startswith("Error: PHOENIX_TOKEN is not set:")
    assert f"{api.url} (PHOENIX_API_URL)" in missing.stderr

    token = api.env["PHOENIX_TOKEN"]
    spaced = run_cli("phoenix", ["experiment", "list"], {**api.env, "PHOENIX_TOKEN": token + " "})
    assert spaced.returncode == 1
    assert spaced.stderr.strip() == (
        "Error: PHOENIX_TOKEN is malformed: it begins or ends with whitespace"
        " (a space or a line break, as copied)."
    )
    assert token[6:] not in spaced.stderr + spaced.stdout

    short = run_cli("phoenix", ["experiment", "list"], {**api.env, "PHOENIX_TOKEN": "phx_u_abc"})
    assert short.returncode == 1
    assert "PHOENIX_TOKEN is malformed: a Phoenix token is phx_u_ (a user's)" in short.stderr
    assert "followed by 43 letters, digits, '-' or '_'" in short.stderr

    unknown = {
        "PHOENIX_COLOUR": "x",
        "PHOENIX_DATABASE_URL": "sqlite:///nowhere.db",
        "PHOENIX_CONTROLLER_INTERVAL_SECONDS": "1",
        "PHOENIX_AGENT_HOSTNAME": "web-9",
    }
    warned = run_cli("phoenix", ["experiment", "list"], {**api.env, **unknown})
    assert warned.returncode == 0, warned.stderr
    assert warned.stderr.strip() == (
        "Warning: PHOENIX_COLOUR is not a setting of phoenix, which ignores it."
    )
    typo = run_cli("phoenix", ["experiment", "list"], {**api.env, "PHOENIX_API_ULR": "x"})
    assert typo.stderr.strip() == (
        "Warning: PHOENIX_API_ULR is not a setting of phoenix, which ignores it;"
        " did you mean PHOENIX_API_URL?"
    )

    revoked = run_cli(
        "phoenix", ["experiment", "list"], {**api.env, "PHOENIX_TOKEN": "phx_u_" + "x" * 43}
    )
    assert revoked.stderr.strip() == "Error: The token is not known (PHOENIX_TOKEN)."

    unknown_template = run_cli("phoenix", ["pipeline", "render", "topk"], api.env)
    assert unknown_template.returncode == 1
    assert unknown_template.stderr.strip() == (
        "Error: No pipeline template 'topk' exists (templates: adaptive-filter, aggregate,"
        " baseline, drop-labels, drop-metrics, hybrid, keep-series, top-k)."
    )


class _NotPhoenix(BaseHTTPRequestHandler):
    """What a Prometheus (or any Go server) answers on a path it does not have."""

    def do_GET(self) -> None:
        body = b"404 page not found\n"
        self.send_response(404)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_url_that_is_not_a_phoenix_api_says_so(api: Api) -> None:
    server = HTTPServer(("127.0.0.1", 0), _NotPhoenix)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        result = run_cli("phoenix", ["experiment", "list"], {**api.env, "PHOENIX_API_URL": url})
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: {url} (PHOENIX_API_URL) is not a Phoenix API: GET /api/v1/experiments answered"
        ' 404 Not Found ("404 page not found"), not a problem document; check the URL (HTTP 404)'
    )


def test_pipeline_templates_render_and_forecast(api: Api, tmp_path: Path) -> None:
    listed = run_cli("phoenix", ["pipeline", "templates"], api.env)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert "labels" in rows["drop-labels"] and "k" in rows["top-k"].split()
    as_json = json.loads(
        run_cli("phoenix", ["pipeline", "templates", "--output", "json"], api.env).stdout
    )
    assert {t["name"] for t in as_json} >= {"baseline", "drop-labels", "top-k"}

    rendered = run_cli(
        "phoenix",
        ["pipeline", "render", "drop-labels", "--var", "labels=[pid]", "--collector", "otelcol"],
        api.env,
    )
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.startswith("extensions:") and "receivers:" in rendered.stdout

    inventory = tmp_path / "series.json"
    series = [{"__name__": "http_requests_total", "pid": str(i)} for i in range(5)]
    inventory.write_text(json.dumps([*series, {"__name__": "up"}]))
    forecast = run_cli(
        "phoenix",
        [
            "pipeline",
            "forecast",
            "drop-labels",
            "--var",
            "labels=[pid]",
            "--inventory",
            str(inventory),
        ],
        api.env,
    )
    assert forecast.returncode == 0, forecast.stderr
    lines = forecast.stdout.splitlines()
    assert lines[0] == "Series: 6 -> 2 (66.7% fewer)"
    assert any(line.split() == ["http_requests_total", "5", "1", "80.0%"] for line in lines)
    assert any(line.split()[:2] == ["0", "drop_labels"] for line in lines)
    bad = run_cli("phoenix", ["pipeline", "render", "drop-labels", "--var", "labels"], api.env)
    assert bad.returncode == 2 and "'labels' is not NAME=VALUE" in bad.stderr


def _seed_analysis(api: Api, experiment_id: str) -> None:
    """Store an analysis as the controller would (the KPI rows ``GET …/kpis`` serves)."""
    from phoenix_core.store.analyses import AnalysisRecord, AnalysisRepository, KpiRow
    from phoenix_core.store.database import make_engine
    from phoenix_core.store.session import Store

    end = datetime.now(UTC)
    start = end - timedelta(minutes=10)
    store = Store(make_engine(f"sqlite:///{api.data_dir / 'phoenix.db'}"))
    ident = uuid.UUID(experiment_id)
    analysis = AnalysisRecord(experiment_id=ident, outcome="pass", winner="slim", reasons=[],
                              candidates=[], gates=[], missing=[], window_start=start,
                              window_end=end, source="measurements", computed_by="test",
                              computed_at=end)  # fmt: skip

    def row(variant: str, host: str | None, value: float, change: float | None = None) -> KpiRow:
        return KpiRow(variant=variant, host=host, kpi="active_series", value=value,
                      unit="series", query="q", window_start=start, window_end=end,
                      change_percent=change)  # fmt: skip

    rows = [row("baseline", None, 805), row("slim", None, 412, -48.8),
            row("baseline", "web-1", 805), row("slim", "web-1", 412)]  # fmt: skip
    try:
        with store.session() as session:
            AnalysisRepository(session).replace(analysis, rows)
    finally:
        store.dispose()


def test_show_prints_variants_hosts_state_reasons_and_series(api: Api, tmp_path: Path) -> None:
    experiment_id = _create(api, tmp_path, name="first contact")
    shown = run_cli("phoenix", ["experiment", "show", experiment_id], api.env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"Experiment {experiment_id}: first contact"
    assert lines[1].startswith("State:      draft since ")
    assert "Hosts:      web-1" in lines
    assert any(line.split() == ["baseline", "baseline", "baseline"] for line in lines), lines
    assert any(
        line.split() == ["slim", "candidate", "drop-labels", "labels=[pid]"] for line in lines
    )
    record = json.loads(
        run_cli(
            "phoenix", ["experiment", "show", experiment_id, "--output", "json"], api.env
        ).stdout
    )
    assert isinstance(record, dict) and record["id"] == experiment_id

    _seed_analysis(api, experiment_id)
    analysed = run_cli("phoenix", ["experiment", "show", experiment_id], api.env).stdout
    assert "SERIES (measured, over its hosts)" in analysed
    assert "805" in next(line for line in analysed.splitlines() if line.startswith("baseline "))
    slim = next(line for line in analysed.splitlines() if line.startswith("slim "))
    assert slim.endswith("412 (-48.8% against the baseline)")

    same = {"name": "same", "role": "candidate", "template": "baseline"}
    failing = _create(api, tmp_path, name="never deploys", candidate=same)
    assert run_cli("phoenix", ["experiment", "start", failing], api.env).returncode == 0
    deadline = time.monotonic() + 60  # the deploy times out after 30 s: no agent takes the task
    while "failed" not in (
        out := run_cli("phoenix", ["experiment", "show", failing], api.env).stdout
    ):
        assert time.monotonic() < deadline, out
        time.sleep(1)
    lines = out.splitlines()
    assert lines[1].startswith("State:      failed since ")
    assert lines[2].startswith("  because:  deploy timed out after 30 s waiting for: "), lines


def test_watch_names_variant_and_host_and_what_a_deploy_waits_for(api: Api, tmp_path: Path) -> None:
    experiment_id = _create(api, tmp_path)
    assert run_cli("phoenix", ["experiment", "start", experiment_id], api.env).returncode == 0
    agent = httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.host_token}"})
    env = {**api.env, "PATH": "/usr/bin:/bin"}
    watcher = subprocess.Popen(
        [str(BIN / "phoenix"), "experiment", "watch", experiment_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert watcher.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(x) for x in watcher.stdout], daemon=True)  # type: ignore[union-attr]
    reader.start()
    seen: list[str] = []

    def until(text: str) -> str:
        deadline = time.monotonic() + 30
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            seen.append(line)
            if text in line:
                return line.strip()

    try:
        # the candidate waits for the baseline's values (a deploy_waiting event)
        waits = until("waiting for: ")
        assert waits.startswith("waiting for: slim on web-1: "), seen
        # the agent takes the baseline's start and reports it running
        tasks: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not tasks:
            assert time.monotonic() < deadline
            tasks = agent.get("/agent/v1/tasks", params={"wait": 1, "limit": 10}).json()["tasks"]
        task = next(t for t in tasks if t["payload"].get("variant") == "baseline")
        report = {"attempt": task["attempt"], "status": "running"}
        assert agent.post(f"/agent/v1/tasks/{task['id']}/status", json=report).status_code == 200
        running = until("task_updated")
        assert running.endswith("baseline on web-1: collector/start attempt 1: running"), running
        both = until("waiting for: ")
        assert both.startswith("waiting for: baseline on web-1: its collector to start (running);")
        assert "slim on web-1: " in both
    finally:
        agent.close()
        watcher.kill()
        watcher.wait(timeout=10)
        for stream in (watcher.stdout, watcher.stderr):
            if stream is not None:
                stream.close()
