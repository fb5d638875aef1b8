"""``GET /api/v1/cardinality`` in the real app (in-process, on SQLite): what is wrong with a
request is refused before Prometheus is asked, by a problem document naming the parameter; a
Prometheus that does not answer is a 503 naming it. (The numbers: tests/e2e/test_cardinality.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from phoenix_core.auth import Role, TokenKind
from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.store.database import make_engine
from phoenix_core.store.session import Store
from phoenix_core.store.tokens import TokenRepository
from support.asgi import app_on_sqlite, request
from support.postgres import free_port

PATH = "/api/v1/cardinality"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = ControllerSettings(prometheus_url=nowhere)
    with app_on_sqlite(tmp_path_factory.mktemp("cardinality"), settings) as (app, url):
        engine = make_engine(url)
        with Store(engine).session() as session:
            _, token = TokenRepository(session).create(
                TokenKind.USER, "vera", actor="t", role=Role.VIEWER
            )
        engine.dispose()
        yield {"app": app, "headers": {"Authorization": f"Bearer {token}"}, "prometheus": nowhere}


def _get(api: dict[str, Any], **params: Any) -> Any:
    return request(api["app"], "GET", PATH, headers=api["headers"], params=params)


def _refused(api: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    response = _get(api, **params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors: list[dict[str, Any]] = response.json()["errors"]
    return errors


def _at(when: datetime) -> str:
    return when.isoformat()


NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"selector": '{job="node"'}, "selector", "missing '}'"),
        ({"selector": '{job=~".*"}'}, "selector", "matches every series"),
        ({"selector": '{job=~"(unclosed"}'}, "selector", "bad regex"),
        ({"selector": "rate(x[5m])"}, "selector", "unexpected"),
        (
            {"start": _at(NOW - timedelta(minutes=5)), "end": _at(NOW - timedelta(minutes=10))},
            "start",
            "must be before end",
        ),
        (
            {"start": _at(NOW - timedelta(minutes=5)), "end": _at(NOW - timedelta(minutes=5))},
            "start",
            "must be before end",
        ),
        ({"start": "2026-01-31T12:00:00"}, "start", "time zone"),
        ({"end": _at(NOW + timedelta(hours=1))}, "end", "in the future"),
        ({"limit": 0}, "limit", "greater than or equal to 1"),
        ({"limit": 10_001}, "limit", "less than or equal to 10000"),
        ({"limit": "many"}, "limit", "integer"),
    ],
    ids=[
        "unclosed-selector",
        "selector-of-everything",
        "bad-regex",
        "not-a-selector",
        "end-before-start",
        "empty-window",
        "no-time-zone",
        "end-in-the-future",
        "limit-0",
        "limit-too-big",
        "limit-not-a-number",
    ],
)
def test_a_bad_parameter_is_refused_by_name(
    api: dict[str, Any], params: dict[str, Any], field: str, says: str
) -> None:
    errors = _refused(api, **params)
    assert [error["loc"] for error in errors] == [["query", field]]
    assert says in errors[0]["msg"]


def test_every_bad_parameter_is_named_at_once(api: dict[str, Any]) -> None:
    errors = _refused(api, selector="{", start="2026-01-31T12:00:00")
    assert sorted(error["loc"][-1] for error in errors) == ["selector", "start"]


def test_prometheus_not_answering_is_a_503_naming_it(api: dict[str, Any]) -> None:
    response = _get(api, selector='{job="node"}')
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 503
    assert f"Cannot reach Prometheus at {api['prometheus']}" in problem["detail"]
