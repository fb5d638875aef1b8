"""``phoenix usage`` against a real ``phoenix api serve`` (SQLite): an operator uploads a dashboard
and a query list (the same file again adds nothing), everyone lists them, shows a source with
the queries that failed and where, and reads who uses which metric; a file not of its kind and
a viewer's upload are refused in one line each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.control_plane import cli_token
from support.processes import api_server, run_cli

FIXTURES = Path(__file__).parents[1] / "fixtures" / "usage"
DASHBOARD = str(FIXTURES / "node-dashboard.json")
RUNBOOK = str(FIXTURES / "runbook-queries.txt")


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[dict[str, dict[str, str]]]:
    env = {"PHOENIX_DATA_DIR": str(tmp_path), "PHOENIX_RUN_CONTROLLER": "false"}
    tokens = {
        who: cli_token(env, "token", "create", who, "--role", who) for who in ("operator", "viewer")
    }
    with api_server(env) as (url, _):
        yield {
            who: {"PHOENIX_API_URL": url, "PHOENIX_TOKEN": token} for who, token in tokens.items()
        }


def _ok(args: list[str], env: dict[str, str]) -> str:
    result = run_cli("phoenix", ["usage", *args], env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_upload_list_show_and_metrics(clients: dict[str, dict[str, str]]) -> None:
    operator, viewer = clients["operator"], clients["viewer"]
    added = _ok(["add", DASHBOARD, "--kind", "dashboard"], operator).splitlines()
    assert added[0].startswith("node-dashboard: version 1 added (4,645 bytes, sha256 ")
    assert added[1].startswith("14 queries: 10 read, 1 failed to parse, 3 skipped.")
    assert added[2:5] == [
        "failed to parse:",
        "  node-dashboard › dashboard node-fleet 'Node fleet' › panel 8 'Request rate (broken)'"
        " › target A",
        '    sum(rate(http_requests_total{job="$job"}[5m])',
    ]
    again = _ok(["add", DASHBOARD, "--kind", "dashboard"], operator)
    assert again.startswith("node-dashboard: unchanged, version 1 holds this content.")
    _ok(["add", RUNBOOK, "--kind", "queries", "--name", "runbook"], operator)

    listed = _ok(["list"], viewer).splitlines()
    assert listed[0].split() == ["NAME", "KIND", "VERSION", "SHA256", "UPLOADED", "BY"]
    assert [line.split()[:3] for line in listed[1:]] == [
        ["node-dashboard", "dashboard", "1"],
        ["runbook", "queries", "1"],
    ]
    shown = _ok(["show", "runbook"], viewer)
    assert "runbook (queries): version 1 of 1" in shown
    assert "failed to parse:\n  runbook:5\n    rate(node_network_transmit_bytes_total[5m]\n" in (
        shown
    )

    table = _ok(["metrics"], viewer).splitlines()
    requests = next(line for line in table if line.startswith("http_requests_total "))
    assert requests.split()[1:3] == ["2", "job"]  # busiest_job and the runbook sum by job
    assert requests.endswith("  node-dashboard, runbook")
    assert table[-1].startswith("incomplete: 2 queries failed to parse (in node-dashboard, ")
    load5 = json.loads(
        _ok(
            ["metrics", "--source", "runbook", "--metric", "node_load5", "--output", "json"], viewer
        )
    )
    assert [(m["queries"], m["via"]) for m in load5["metrics"]] == [
        (1, ['{__name__=~"node_load(1|5|15)"}'])
    ]


def test_a_file_not_of_its_kind_and_a_viewer_s_upload_are_refused(
    clients: dict[str, dict[str, str]],
) -> None:
    rules = str(FIXTURES / "node-rules.yaml")
    wrong = run_cli("phoenix", ["usage", "add", rules, "--kind", "dashboard"], clients["operator"])
    assert wrong.returncode == 1
    assert "content: not a Grafana dashboard: not JSON" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    viewer = run_cli("phoenix", ["usage", "add", rules, "--kind", "rules"], clients["viewer"])
    assert viewer.returncode == 1
    assert viewer.stderr.startswith("Error: ") and "operator" in viewer.stderr
    assert "Traceback" not in viewer.stderr
