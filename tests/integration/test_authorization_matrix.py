"""Who may call what: every route of the app, called by every kind of caller, against this
hand-written table (the same as in docs/operations.md). A route missing here fails the test."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from phoenix_core.auth import Role, TokenKind
from phoenix_core.store.database import make_engine
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tokens import TokenRepository
from support.asgi import app_on_sqlite, request

PUBLIC, VIEWER, OPERATOR, ADMIN, HOST, ENROLMENT = (
    "public", "viewer", "operator", "admin", "host", "enrolment",
)  # fmt: skip

TABLE = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("POST", "/agent/v1/register"): ENROLMENT,
    ("GET", "/agent/v1/tasks"): HOST,
    ("POST", "/agent/v1/tasks/{task_id}/status"): HOST,
    ("POST", "/agent/v1/heartbeat"): HOST,
    ("GET", "/agent/v1/configs/{sha256}"): HOST,
    ("POST", "/agent/v1/metrics"): HOST,
    ("POST", "/api/v1/experiments"): OPERATOR,
    ("GET", "/api/v1/experiments"): VIEWER,
    ("GET", "/api/v1/experiments/{experiment_id}"): VIEWER,
    ("PUT", "/api/v1/experiments/{experiment_id}"): OPERATOR,
    ("DELETE", "/api/v1/experiments/{experiment_id}"): OPERATOR,
    ("POST", "/api/v1/experiments/{experiment_id}/start"): OPERATOR,
    ("POST", "/api/v1/experiments/{experiment_id}/stop"): OPERATOR,
    ("GET", "/api/v1/experiments/{experiment_id}/events"): VIEWER,
    ("POST", "/api/v1/experiments/{experiment_id}/dry-run"): VIEWER,
    ("GET", "/api/v1/experiments/{experiment_id}/kpis"): VIEWER,
    ("GET", "/api/v1/experiments/{experiment_id}/verdict"): VIEWER,
    ("GET", "/api/v1/experiments/{experiment_id}/guardrail"): VIEWER,
    ("GET", "/api/v1/experiments/{experiment_id}/cost"): VIEWER,
    ("POST", "/api/v1/experiments/{experiment_id}/analysis"): OPERATOR,
    ("GET", "/api/v1/cardinality"): VIEWER,
    ("GET", "/api/v1/hosts"): VIEWER,
    ("GET", "/api/v1/collectors"): VIEWER,
    ("GET", "/api/v1/whoami"): VIEWER,
    ("POST", "/api/v1/hosts/{host_id}/decommission"): ADMIN,
    ("GET", "/api/v1/tasks/stats"): VIEWER,
    ("GET", "/api/v1/pipelines/templates"): VIEWER,
    ("GET", "/api/v1/pipelines/templates/{name}"): VIEWER,
    ("GET", "/api/v1/pipelines/templates/{name}/versions"): VIEWER,
    ("POST", "/api/v1/pipelines/validate"): VIEWER,
    ("POST", "/api/v1/pipelines/render"): VIEWER,
    ("POST", "/api/v1/pipelines/forecast"): VIEWER,
    ("GET", "/api/v1/price-books"): VIEWER,
    ("GET", "/api/v1/price-books/{name}"): VIEWER,
    ("POST", "/api/v1/price-books"): ADMIN,
    ("POST", "/api/v1/usage-sources"): OPERATOR,
    ("GET", "/api/v1/usage-sources"): VIEWER,
    ("GET", "/api/v1/usage-sources/{name}"): VIEWER,
    ("GET", "/api/v1/usage-sources/{name}/queries"): VIEWER,
    ("DELETE", "/api/v1/usage-sources/{name}"): ADMIN,
    ("GET", "/api/v1/usage"): VIEWER,
    ("GET", "/api/v1/recommendations"): VIEWER,
    ("GET", "/api/v1/recommendations/{recommendation_id}"): VIEWER,
    ("POST", "/api/v1/recommendations/{recommendation_id}/experiment"): OPERATOR,
}

CALLERS = ["nobody", VIEWER, OPERATOR, ADMIN, HOST, ENROLMENT]


def allowed(needed: str, caller: str) -> bool:
    if needed == PUBLIC:
        return True
    if needed in (VIEWER, OPERATOR, ADMIN):
        return caller in (VIEWER, OPERATOR, ADMIN) and Role(caller).allows(Role(needed))
    return caller == needed


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    with app_on_sqlite(tmp_path_factory.mktemp("authz")) as (app, url):
        engine = make_engine(url)
        tokens: dict[str, str] = {}
        with Store(engine).session() as session:
            repository = TokenRepository(session)
            for role in Role:
                tokens[role.value] = repository.create(
                    TokenKind.USER, role.value, actor="t", role=role
                )[1]
            tokens[ENROLMENT] = repository.create(TokenKind.ENROLMENT, "e", actor="t")[1]
            host = HostRepository(session).register("h", actor="t")
            tokens[HOST] = repository.create(TokenKind.HOST, "h", actor="t", host_id=host.id)[1]
        engine.dispose()
        yield app, tokens


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every operation the app publishes (its OpenAPI document)."""
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    ]


def test_every_route_is_in_the_table(world: tuple[FastAPI, dict[str, str]]) -> None:
    assert set(routes(world[0])) == set(TABLE)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path"), sorted(TABLE))
def test_route_by_caller(
    world: tuple[FastAPI, dict[str, str]], method: str, path: str, caller: str
) -> None:
    app, tokens = world
    concrete = re.sub(
        r"\{(\w+)\}", lambda m: "1" if m.group(1) == "task_id" else str(uuid.uuid4()), path
    )
    headers = {"Authorization": f"Bearer {tokens[caller]}"} if caller in tokens else {}
    params = {"wait": "0"} if path == "/agent/v1/tasks" else {}
    response = request(app, method, concrete, headers=headers, params=params, json={})
    needed = TABLE[(method, path)]
    if allowed(needed, caller):
        assert response.status_code not in (401, 403), response.text
    elif caller == "nobody":
        assert response.status_code == 401, response.text
    else:
        assert response.status_code == 403, response.text


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
def test_whoami_says_the_role_and_what_it_may_use(
    world: tuple[FastAPI, dict[str, str]], role: Role
) -> None:
    app, tokens = world
    headers = {"Authorization": f"Bearer {tokens[role.value]}"}
    answer = request(app, "GET", "/api/v1/whoami", headers=headers).json()
    below = {"viewer": ["viewer"], "operator": ["viewer", "operator"]}
    assert answer == {
        "name": role.value,
        "kind": "user",
        "role": role.value,
        "actor": f"user:{role.value}",
        "expires_at": None,
        "may": below.get(role.value, ["viewer", "operator", "admin"]),
    }
