"""Schemathesis against the app's own OpenAPI document: generated requests (bounded: 10 per
operation) for every operation, as an admin or a host, find no server error and no response
that breaks the schema (status codes, content types, bodies). The controller's Prometheus is a
real, empty one (``/api/v1/cardinality`` and ``/api/v1/recommendations`` ask it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from phoenix_core.auth import Role, TokenKind
from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.store.database import make_engine
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tokens import TokenRepository
from support.asgi import app_on_sqlite
from support.prometheus import prometheus_server

TOKENS: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with (
        prometheus_server(remote_write_receiver=False) as prometheus,  # for /api/v1/cardinality
        app_on_sqlite(
            tmp_path_factory.mktemp("schema"), ControllerSettings(prometheus_url=prometheus.url)
        ) as (app, url),
    ):
        engine = make_engine(url)
        with Store(engine).session() as session:
            tokens = TokenRepository(session)
            TOKENS["admin"] = tokens.create(TokenKind.USER, "a", actor="t", role=Role.ADMIN)[1]
            host = HostRepository(session).register("h", actor="t")
            TOKENS["host"] = tokens.create(TokenKind.HOST, "h", actor="t", host_id=host.id)[1]
        engine.dispose()
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_server_errors_and_responses_match_the_schema(api_schema: Any) -> None:
    checked = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            if case.path == "/agent/v1/tasks":
                case.query = {**(case.query or {}), "wait": 0}
            who = "host" if case.path.startswith("/agent/") else "admin"
            case.call_and_validate(
                headers={"Authorization": f"Bearer {TOKENS[who]}"},
                # a schema-valid body may still name what does not exist (an unknown
                # experiment, a host that is not enrolled): refusing it with 4xx is right
                excluded_checks=[positive_data_acceptance],
            )

        check()
        checked.append(operation.label)
    assert len(checked) >= 20
    assert set(checked) >= USAGE_OPERATIONS | RECOMMENDATION_OPERATIONS


USAGE_OPERATIONS = {
    "POST /api/v1/usage-sources",
    "GET /api/v1/usage-sources",
    "GET /api/v1/usage-sources/{name}",
    "GET /api/v1/usage-sources/{name}/queries",
    "DELETE /api/v1/usage-sources/{name}",
    "GET /api/v1/usage",
}
RECOMMENDATION_OPERATIONS = {
    "GET /api/v1/recommendations",
    "GET /api/v1/recommendations/{recommendation_id}",
    "POST /api/v1/recommendations/{recommendation_id}/experiment",
}
