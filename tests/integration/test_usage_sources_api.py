"""Usage sources through the real app, on SQLite and PostgreSQL: uploads stored and versioned by
content (the same content again is the same version), older versions readable, queries that fail
reported with their sources while the rest is read, content not of its kind refused naming
``content``, the usage over many sources by metric (numbers worked out by hand from
tests/fixtures/usage/), 404s, and who may do what.

By hand, the four fixture files hold 27 queries: node-rules.yaml 6 (all read); node-dashboard.json
14 (panels 1 A and B, 2, 4, 5, 7 A and 11 read; panel 6 is Loki and 7 B a server-side
expression, skipped; panel 8 lacks a parenthesis; the variables job, instance and busiest_job
read, cluster's ``label_values(cluster)`` skipped: 10 read, 1 error, 3 skipped);
legacy-dashboard.json 2 (read); runbook-queries.txt 5 (line 5 lacks a parenthesis).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from phoenix_api.cli import usage as usage_commands
from phoenix_core.auth import Role, TokenKind
from phoenix_core.client import PhoenixClient
from phoenix_core.errors import NotFound, ValidationFailed
from phoenix_core.store.database import make_engine
from phoenix_core.store.events import EventRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tokens import TokenRepository
from support.app_client import AppClient, app_client

SOURCES = "/api/v1/usage-sources"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "usage"
RULES = (FIXTURES / "node-rules.yaml").read_text()
DASHBOARD = (FIXTURES / "node-dashboard.json").read_text()
LEGACY = (FIXTURES / "legacy-dashboard.json").read_text()
RUNBOOK = (FIXTURES / "runbook-queries.txt").read_text()


@dataclass
class Api:
    client: AppClient
    engine: Engine
    headers: dict[str, dict[str, str]]

    def upload(self, name: str, kind: str, content: str, who: str = "operator") -> httpx.Response:
        body = {"name": name, "kind": kind, "content": content}
        return self.client.post(SOURCES, headers=self.headers[who], json=body)

    def get(self, path: str, who: str = "viewer", **params: Any) -> httpx.Response:
        return self.client.get(path, headers=self.headers[who], params=params)

    def events(self, kind: str) -> list[Any]:
        with Store(self.engine).session() as session:
            return [e for e in EventRepository(session).list() if e.type == kind]


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    engine = make_engine(database_url)
    headers = {}
    with Store(engine).session() as session:
        tokens = TokenRepository(session)
        for role, name in [(Role.VIEWER, "vera"), (Role.OPERATOR, "olga"), (Role.ADMIN, "ada")]:
            _, token = tokens.create(TokenKind.USER, name, actor="t", role=role)
            headers[role.value] = {"Authorization": f"Bearer {token}"}
    with app_client(database_url) as client:
        yield Api(client, engine, headers)
    engine.dispose()


def _uploaded(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_upload_is_stored_and_the_same_content_again_is_the_same_version(api: Api) -> None:
    first = _uploaded(api.upload("node-rules", "rules", RULES))
    assert (first["name"], first["kind"], first["created"]) == ("node-rules", "rules", True)
    version = first["version"]
    assert version["version"] == 1
    assert version["sha256"] == hashlib.sha256(RULES.encode()).hexdigest()
    assert version["size_bytes"] == len(RULES.encode())
    assert version["created_by"] == "user:olga"
    assert first["counts"] == {"total": 6, "ok": 6, "error": 0, "skipped": 0}
    assert (first["complete"], first["problems"]) == (True, [])

    again = api.upload("node-rules", "rules", RULES, who="admin")
    assert again.headers["location"] == f"{SOURCES}/node-rules"
    repeated = _uploaded(again, status=200)
    assert repeated["created"] is False
    assert repeated["version"] == version  # the same version: number, uploader and time
    listed = api.get(SOURCES).json()
    assert [(s["name"], s["version_count"], s["latest"]) for s in listed] == [
        ("node-rules", 1, version)
    ]
    added = api.events("usage_source_version_added")
    assert [(e.actor, e.data["name"], e.data["version"]) for e in added] == [
        ("user:olga", "node-rules", 1)
    ]


def test_new_content_is_a_new_version_and_older_versions_stay_readable(api: Api) -> None:
    changed = RULES.replace('      - alert: ApiAbsent\n        expr: absent(up{job="api"})\n', "")
    assert changed != RULES
    v1 = _uploaded(api.upload("node-rules", "rules", RULES))["version"]
    v2 = _uploaded(api.upload("node-rules", "rules", changed))["version"]
    assert (v1["version"], v2["version"]) == (1, 2)
    assert v2["sha256"] == hashlib.sha256(changed.encode()).hexdigest() != v1["sha256"]

    shown = api.get(f"{SOURCES}/node-rules").json()
    assert (shown["version_count"], shown["latest"]) == (2, v2)
    assert shown["versions"] == [v1, v2]  # oldest first
    latest = api.get(f"{SOURCES}/node-rules/queries").json()
    older = api.get(f"{SOURCES}/node-rules/queries", version=1).json()
    assert (latest["version"], older["version"]) == (v2, v1)
    rules = [r["source"]["rule"] for r in older["records"]]
    assert "ApiAbsent" in rules
    assert [r["source"]["rule"] for r in latest["records"]] == [
        rule for rule in rules if rule != "ApiAbsent"
    ]

    # the first content again is a revert: a new version, the latest, with v1's digest
    v3 = _uploaded(api.upload("node-rules", "rules", RULES))["version"]
    assert (v3["version"], v3["sha256"]) == (3, v1["sha256"])
    assert _uploaded(api.upload("node-rules", "rules", RULES), status=200)["version"] == v3
    assert api.get(f"{SOURCES}/node-rules").json()["version_count"] == 3


def test_queries_that_fail_are_reported_with_their_sources_and_the_rest_is_read(
    api: Api,
) -> None:
    board = _uploaded(api.upload("node-dashboard", "dashboard", DASHBOARD))
    assert board["counts"] == {"total": 14, "ok": 10, "error": 1, "skipped": 3}
    assert board["complete"] is False
    problems = {(p["status"], p["where"]): p for p in board["problems"]}
    broken = problems[
        ("error", "node-dashboard › dashboard node-fleet 'Node fleet' › panel 8 "
         "'Request rate (broken)' › target A")
    ]  # fmt: skip
    assert broken["source"] | {"panel_id": 8, "ref_id": "A"} == broken["source"]
    assert broken["query"] == 'sum(rate(http_requests_total{job="$job"}[5m])'
    assert broken["message"]
    skipped = [
        (p["source"]["panel_id"], p["source"]["variable"])
        for p in board["problems"]
        if p["status"] == "skipped"
    ]  # in the file's order: panels, then variables
    assert skipped == [(6, None), (7, None), (None, "cluster")]

    broken_rule = RULES.replace('expr: up{job=~"node|api"} == 0', 'expr: up{job=~"node|api"} ==')
    rules = _uploaded(api.upload("node-rules", "rules", broken_rule))
    assert rules["counts"] == {"total": 6, "ok": 5, "error": 1, "skipped": 0}
    [failed] = rules["problems"]
    assert {k: failed["source"][k] for k in ("file", "group", "rule", "rule_type")} == {
        "file": "node-rules",
        "group": "node.alerts",
        "rule": "TargetDown",
        "rule_type": "alert",
    }
    runbook = _uploaded(api.upload("runbook", "queries", RUNBOOK))
    assert runbook["counts"] == {"total": 5, "ok": 4, "error": 1, "skipped": 0}
    assert [(p["source"]["line"], p["query"]) for p in runbook["problems"]] == [
        (5, "rate(node_network_transmit_bytes_total[5m]")
    ]


def test_a_version_s_records_say_what_each_query_reads(api: Api) -> None:
    _uploaded(api.upload("node-rules", "rules", RULES))
    found = api.get(f"{SOURCES}/node-rules/queries").json()
    assert (found["name"], found["kind"], found["complete"]) == ("node-rules", "rules", True)
    records = {r["source"]["rule"]: r for r in found["records"]}
    assert list(records) == [
        "instance:node_cpu_utilisation:rate5m",
        "job_code:http_requests:rate5m",
        "NodeFilesystemAlmostFull",
        "TargetDown",
        "ApiAbsent",
        "ApiHighLatency",
    ]
    absent = records["ApiAbsent"]
    assert (absent["status"], absent["source"]["group"]) == ("ok", "node.alerts")
    assert absent["uses"] == [
        {
            "metric": "up",
            "is_pattern": False,
            "labels": ["job"],
            "all_labels": False,
            "all_except": [],
            "label_use": "job",
        }
    ]
    [summed] = records["job_code:http_requests:rate5m"]["uses"]
    assert summed["label_use"] == "all labels except instance, pod (named: job)"


def test_usage_over_the_sources_is_what_the_files_say_by_hand(api: Api) -> None:
    for name, kind, content in [
        ("node-rules", "rules", RULES),
        ("node-dashboard", "dashboard", DASHBOARD),
        ("legacy", "dashboard", LEGACY),
        ("runbook", "queries", RUNBOOK),
    ]:
        _uploaded(api.upload(name, kind, content))
    everything = api.get("/api/v1/usage").json()
    assert [(s["name"], s["version"]) for s in everything["sources"]] == [
        ("legacy", 1),
        ("node-dashboard", 1),
        ("node-rules", 1),
        ("runbook", 1),
    ]
    assert everything["counts"] == {"total": 27, "ok": 22, "error": 2, "skipped": 3}
    assert everything["complete"] is False  # panel 8 and runbook line 5 could read anything
    rows = {row["metric"]: row for row in everything["metrics"]}
    # the recording rule sums without instance and pod; legacy sums by code (job in a
    # matcher); busiest_job and the runbook sum by job
    requests = rows["http_requests_total"]
    assert (requests["queries"], requests["sources"]) == (
        4,
        ["legacy", "node-dashboard", "node-rules", "runbook"],
    )
    assert (requests["labels"], requests["all_labels"], requests["all_except"]) == (
        ["code", "job"],
        True,
        ["instance", "pod"],
    )
    # the rule averages over cpu (all labels; mode named), panel 1 A sums by instance (mode
    # and instance named), panel 1 B counts (all labels)
    cpu = rows["node_cpu_seconds_total"]
    assert (cpu["queries"], cpu["sources"]) == (3, ["node-dashboard", "node-rules"])
    assert cpu["label_use"] == "all labels (named: instance, mode)"
    # TargetDown and the runbook's line 2 compare (all labels), ApiAbsent needs job only,
    # panel 7 A counts by job (all labels)
    up = rows["up"]
    assert (up["queries"], up["sources"]) == (4, ["node-dashboard", "node-rules", "runbook"])
    assert up["label_use"] == "all labels (named: job)"
    pattern = rows['{__name__=~"node_load(1|5|15)"}']
    assert (pattern["is_pattern"], pattern["queries"], pattern["sources"]) == (
        True,
        1,
        ["runbook"],
    )

    load5 = api.get("/api/v1/usage", metric="node_load5").json()["metrics"]
    assert [(m["metric"], m["queries"], m["sources"], m["via"]) for m in load5] == [
        ("node_load5", 1, ["runbook"], ['{__name__=~"node_load(1|5|15)"}'])
    ]
    unread = api.get("/api/v1/usage", metric="node_boot_time_seconds").json()["metrics"]
    assert [(m["queries"], m["sources"], m["label_use"]) for m in unread] == [(0, [], "no labels")]

    two = api.get("/api/v1/usage", sources="node-rules, legacy").json()
    assert [s["name"] for s in two["sources"]] == ["node-rules", "legacy"]
    assert (two["counts"]["total"], two["complete"]) == (8, True)
    two_rows = {row["metric"]: row for row in two["metrics"]}
    assert two_rows["http_requests_total"]["queries"] == 2
    assert two_rows["up"]["label_use"] == "all labels (named: job)"  # TargetDown compares
    assert "node_load5" not in two_rows and "kube_pod_info" not in two_rows


def test_a_named_version_is_read_as_it_was(api: Api) -> None:
    _uploaded(api.upload("runbook", "queries", "up\n"))
    _uploaded(api.upload("runbook", "queries", "node_load5\n"))
    latest = api.get("/api/v1/usage", sources="runbook").json()
    pinned = api.get("/api/v1/usage", sources="runbook@1").json()
    assert [m["metric"] for m in latest["metrics"]] == ["node_load5"]
    assert [(m["metric"], m["sources"]) for m in pinned["metrics"]] == [("up", ["runbook@1"])]
    assert [(s["name"], s["version"]) for s in pinned["sources"]] == [("runbook", 1)]


NOT_OF_ITS_KIND = [
    ("rules", "groups: [\n", "not a Prometheus rule file: not YAML"),
    ("rules", "scrape_configs: []\n", "not a Prometheus rule file: no 'groups' list"),
    ("rules", "# nothing but a comment\n", "no YAML document with a 'groups' list"),
    ("dashboard", RULES, "not a Grafana dashboard: not JSON"),
    ("dashboard", '{"title": "no panels"}', "a JSON object with a 'panels'"),
    ("queries", DASHBOARD, "JSON, not a list of queries"),
    ("queries", RULES, "a rule file, not a list of queries"),
    ("queries", " \n\n", "is empty"),
    ("queries", "up\x00\n", "NUL"),
]


def test_content_not_of_its_kind_is_refused_naming_content(api: Api) -> None:
    for kind, content, message in NOT_OF_ITS_KIND:
        response = api.upload("refused", kind, content)
        assert response.status_code == 422, (kind, content[:20], response.text)
        assert response.headers["content-type"] == "application/problem+json"
        [error] = response.json()["errors"]
        assert error["loc"] == ["content"]
        assert message in error["msg"], (kind, content[:20])
    assert api.get(SOURCES).json() == []


BAD_BODIES = [
    ({"name": "rules/node", "kind": "rules", "content": RULES}, "name"),
    ({"name": "-node", "kind": "rules", "content": RULES}, "name"),
    ({"name": "node@2", "kind": "rules", "content": RULES}, "name"),
    ({"name": "x" * 101, "kind": "rules", "content": RULES}, "name"),
    ({"name": "node", "kind": "alerts", "content": RULES}, "kind"),
    ({"name": "node", "kind": "rules"}, "content"),
]
BAD_PARAMETERS = [
    (f"{SOURCES}/node-rules/queries", {"version": 0}, ["query", "version"]),
    (f"{SOURCES}/node-rules/queries", {"version": "latest"}, ["query", "version"]),
    ("/api/v1/usage", {"sources": "node-rules@x"}, ["sources"]),
    ("/api/v1/usage", {"sources": " , "}, ["sources"]),
]


def test_bad_names_kinds_and_parameters_get_a_problem_naming_them(api: Api) -> None:
    for body, field in BAD_BODIES:
        response = api.client.post(SOURCES, headers=api.headers["operator"], json=body)
        assert response.status_code == 422, (body["name"], response.text)
        assert response.json()["errors"][0]["loc"] == ["body", field]
    _uploaded(api.upload("node-rules", "rules", RULES))
    for path, params, loc in BAD_PARAMETERS:
        response = api.get(path, **params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["errors"][0]["loc"] == loc


def test_a_name_holds_one_kind(api: Api) -> None:
    _uploaded(api.upload("node", "rules", RULES))
    response = api.upload("node", "dashboard", DASHBOARD)
    assert response.status_code == 409, response.text
    assert "'node' holds rules, not dashboard" in response.json()["detail"]
    assert api.get(f"{SOURCES}/node").json()["version_count"] == 1


def test_unknown_sources_and_versions_are_not_found(api: Api) -> None:
    _uploaded(api.upload("node-rules", "rules", RULES))
    for path, params in [
        (f"{SOURCES}/nope", {}),
        (f"{SOURCES}/nope/queries", {}),
        ("/api/v1/usage", {"sources": "node-rules,nope"}),
    ]:
        response = api.get(path, **params)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == (
            "No usage source 'nope' exists; there are: node-rules."
        )
    for response in (
        api.get(f"{SOURCES}/node-rules/queries", version=2),
        api.get("/api/v1/usage", sources="node-rules@2"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["detail"] == (
            "Usage source 'node-rules' has no version 2; it has versions 1 to 1."
        )


def test_operators_upload_viewers_read_admins_delete(api: Api) -> None:
    refused = api.upload("node-rules", "rules", RULES, who="viewer")
    assert refused.status_code == 403, refused.text
    assert api.get(SOURCES).json() == []
    _uploaded(api.upload("node-rules", "rules", RULES, who="operator"))
    for path in (SOURCES, f"{SOURCES}/node-rules", f"{SOURCES}/node-rules/queries"):
        assert api.get(path, who="viewer").status_code == 200
    assert api.get("/api/v1/usage", who="viewer").status_code == 200

    path = f"{SOURCES}/node-rules"
    not_admin = api.client.delete(path, headers=api.headers["operator"])
    assert not_admin.status_code == 403, not_admin.text
    deleted = api.client.delete(path, headers=api.headers["admin"])
    assert deleted.status_code == 204, deleted.text
    assert api.get(path).status_code == 404
    assert api.client.delete(path, headers=api.headers["admin"]).status_code == 404
    [event] = api.events("usage_source_deleted")
    assert (event.actor, event.data) == (
        "user:ada",
        {
            "name": "node-rules",
            "kind": "rules",
            "versions": 1,
            "sha256": hashlib.sha256(RULES.encode()).hexdigest(),
        },
    )
    # the name is free again: a new source, from version 1
    again = _uploaded(api.upload("node-rules", "queries", "up\n"))
    assert again["version"]["version"] == 1


def test_the_client_and_the_cli_against_the_app(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What notebooks call (``PhoenixClient``), and ``phoenix usage add`` refused a file the
    API finds too large, saying which setting to raise."""

    def to_the_app(sent: httpx.Request) -> httpx.Response:
        got = api.client.request(
            sent.method, sent.url.raw_path.decode(), headers=sent.headers, content=sent.content
        )
        headers = {k: v for k, v in got.headers.items() if k != "content-encoding"}
        return httpx.Response(got.status_code, headers=headers, content=got.content)

    token = api.headers["admin"]["Authorization"].removeprefix("Bearer ")

    def new_client() -> PhoenixClient:
        return PhoenixClient("http://phoenix", token, transport=httpx.MockTransport(to_the_app))

    client = new_client()
    assert client.add_usage_source("runbook", "queries", RUNBOOK)["created"] is True
    assert client.add_usage_source("runbook", "queries", RUNBOOK)["created"] is False
    client.add_usage_source("runbook", "queries", "up\n")
    assert [s["name"] for s in client.usage_sources()] == ["runbook"]
    assert [v["version"] for v in client.usage_source("runbook")["versions"]] == [1, 2]
    assert client.usage_queries("runbook", version=1)["counts"]["total"] == 5
    assert [m["metric"] for m in client.usage(["runbook@2"])["metrics"]] == ["up"]
    assert client.usage(metric="node_load1")["metrics"][0]["queries"] == 0
    with pytest.raises(ValidationFailed) as refused:
        client.add_usage_source("runbook", "queries", "")
    assert [e.path for e in refused.value.errors] == ["content"]
    client.delete_usage_source("runbook")
    with pytest.raises(NotFound, match="No usage source 'runbook' exists"):
        client.usage_source("runbook")

    big = tmp_path / "big-runbook.txt"
    big.write_text("up\n" * 400_000)  # 1.2 MB: over the default 1 MiB
    monkeypatch.setattr(usage_commands, "api_client", new_client)
    result = CliRunner().invoke(usage_commands.usage, ["add", str(big), "--kind", "queries"])
    assert result.exit_code == 1
    assert "(1,200,000 bytes, more once escaped in the JSON request) is larger than" in (
        result.output
    )
    assert "raises PHOENIX_MAX_BODY_BYTES on the API server" in result.output
    assert client.usage_sources() == []
