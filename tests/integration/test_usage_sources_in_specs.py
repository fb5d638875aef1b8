"""An experiment's ``usage_sources`` through the real app, on SQLite and PostgreSQL: each must
name a stored source (and version) when the experiment is created, edited and started, else
422 naming ``usage_sources.N``; a source an unended experiment names is not deleted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from phoenix_core.auth import Role, TokenKind
from phoenix_core.store.database import make_engine
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tokens import TokenRepository
from phoenix_core.store.usage_sources import UsageSourceRepository
from support.app_client import AppClient, app_client

RULES = (Path(__file__).parents[1] / "fixtures" / "usage" / "node-rules.yaml").read_text()
EXPERIMENTS = "/api/v1/experiments"
SPEC = {
    "name": "guarded",
    "hosts": ["web-1"],
    "variants": [
        {"name": "baseline", "role": "baseline", "template": "baseline"},
        {"name": "top5", "role": "candidate", "template": "top-k", "variables": {"k": 5}},
    ],
    "load_profile": {"name": "high-cardinality", "parameters": {"series": 50}},
}


@pytest.fixture
def world(database_url: str) -> Iterator[tuple[AppClient, Engine, dict[str, dict[str, str]]]]:
    engine = make_engine(database_url)
    headers = {}
    with Store(engine).session() as session:
        tokens = TokenRepository(session)
        for role in (Role.OPERATOR, Role.ADMIN):
            _, token = tokens.create(TokenKind.USER, role.value, actor="t", role=role)
            headers[role.value] = {"Authorization": f"Bearer {token}"}
        HostRepository(session).register("web-1", actor="t")
    with app_client(database_url) as client:
        yield client, engine, headers
    engine.dispose()


def _refused(response: httpx.Response) -> list[tuple[list[Any], str]]:
    assert response.status_code == 422, response.text
    return [(error["loc"], error["msg"]) for error in response.json()["errors"]]


def test_usage_sources_must_be_stored_at_create_edit_and_start(
    world: tuple[AppClient, Engine, dict[str, dict[str, str]]],
) -> None:
    client, engine, headers = world
    operator = headers["operator"]

    def create(*sources: str) -> httpx.Response:
        body = {**SPEC, "usage_sources": list(sources)}
        return client.post(EXPERIMENTS, headers=operator, json=body)

    assert _refused(create("node-rules")) == [
        (["usage_sources", 0], "No usage source 'node-rules' exists; none is stored.")
    ]
    body = {"name": "node-rules", "kind": "rules", "content": RULES}
    assert client.post("/api/v1/usage-sources", headers=operator, json=body).status_code == 201
    assert _refused(create("web@1", "node-rules@2")) == [
        (["usage_sources", 0], "No usage source 'web' exists; there are: node-rules."),
        (["usage_sources", 1], "usage source 'node-rules' has no version 2 (1 to 1)"),
    ]
    assert [loc for loc, _ in _refused(create("node rules"))] == [["body", "usage_sources", 0]]
    assert _refused(create("node-rules", "node-rules@1")) == [
        (["body", "usage_sources"], "Value error, name each usage source once")
    ]

    created = create("node-rules@1")
    assert created.status_code == 201, created.text
    path = created.headers["location"]
    assert client.get(path, headers=operator).json()["spec"]["usage_sources"] == ["node-rules@1"]

    def edit(*sources: str) -> httpx.Response:
        etag = client.get(path, headers=operator).headers["etag"]
        body = {**SPEC, "usage_sources": list(sources)}
        return client.put(path, headers={**operator, "If-Match": etag}, json=body)

    assert [loc for loc, _ in _refused(edit("node-rules", "nope"))] == [["usage_sources", 1]]
    edited = edit("node-rules")
    assert edited.status_code == 200, edited.text
    assert edited.json()["spec"]["usage_sources"] == ["node-rules"]

    # an experiment that has not ended keeps its sources
    kept = client.delete("/api/v1/usage-sources/node-rules", headers=headers["admin"])
    assert kept.status_code == 409, kept.text
    assert "'guarded'" in kept.json()["detail"]
    # should one go anyway (here behind the API's back), the start refuses the experiment
    with Store(engine).session() as session:
        UsageSourceRepository(session).delete("node-rules", actor="t")
    started = client.post(f"{path}/start", headers=operator)
    assert _refused(started) == [
        (["usage_sources", 0], "No usage source 'node-rules' exists; none is stored.")
    ]
    assert client.get(path, headers=operator).json()["state"] == "draft"
