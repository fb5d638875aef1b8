"""``/api/v1/recommendations`` in the real app (in-process, SQLite; the store also on
PostgreSQL): what is wrong with a request is refused by name before Prometheus is asked, a
Prometheus that does not answer is a 503, unknown ids are 404s, a stored recommendation is read
back and a draft made of it names the body's fields at fault. (The recommendations themselves,
worked out by hand against a real Prometheus: tests/e2e/test_recommendations.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from phoenix_api.settings import ApiSettings
from phoenix_core.auth import Role, TokenKind
from phoenix_core.clock import utcnow
from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.recommendations.model import (
    Kind,
    ProposedPipeline,
    Recommendation,
    Savings,
    Target,
    UsageEvidence,
    recommendation_id,
)
from phoenix_core.store.database import make_engine
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.recommendations import RecommendationRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tables import RecommendationRow
from phoenix_core.store.tokens import TokenRepository
from phoenix_core.wire.tasks import CollectorKind
from support.asgi import app_on_sqlite, request
from support.postgres import free_port

PATH = "/api/v1/recommendations"
NOW = datetime(2026, 12, 8, 12, tzinfo=UTC)


def stored(**changes: Any) -> Recommendation:
    """A recommendation as the engine makes one (dropping an unread metric)."""
    variables = {"regex": "app_debug_info", "critical": []}
    fields: dict[str, Any] = {
        "id": recommendation_id(
            Kind.DROP_METRIC, CollectorKind.PROMETHEUS_AGENT, "drop-metrics", 1, variables
        ),
        "kind": Kind.DROP_METRIC,
        "title": "drop metric app_debug_info",
        "metrics": ["app_debug_info"],
        "labels": [],
        "collector": CollectorKind.PROMETHEUS_AGENT,
        "pipeline": ProposedPipeline(
            template="drop-metrics", template_version=1, variables=variables
        ),
        "series_before": 40,
        "series_after": 0,
        "series_change": -40,
        "change_percent": -100.0,
        "samples_per_second_before": 40 / 15,
        "samples_per_second_after": 0.0,
        "per_metric": [],
        "waterfall": [],
        "savings": Savings(
            price_book="grafana-cloud-pro",
            vendor="Grafana Labs",
            meter="active_series",
            currency="USD",
            fleet_hosts=1,
            scrape_interval_seconds=15,
            total_series_before=100,
            total_series_after=60,
            monthly_before=0.0,
            monthly_after=0.0,
            monthly=0.0,
            yearly=0.0,
            percent=None,
        ),
        "usage": UsageEvidence(summary="none: no query reads it", query_count=0, queries=[]),
        "usage_sources": [],
        "critical_selectors": [],
        "protects": [],
        "targets": [Target(job="app", instance="127.0.0.1:8080", series=40)],
        "selector": '{job="app"}',
        "start": NOW,
        "end": NOW,
        "computed_at": NOW,
    }
    return Recommendation(**(fields | changes))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = ControllerSettings(prometheus_url=nowhere)
    with app_on_sqlite(tmp_path_factory.mktemp("recommendations"), settings) as (app, url):
        engine = make_engine(url)
        store = Store(engine)
        with store.session() as session:
            tokens = TokenRepository(session)
            _, operator = tokens.create(TokenKind.USER, "olga", actor="t", role=Role.OPERATOR)
            HostRepository(session).register("web-1", actor="t")
            RecommendationRepository(session).save([stored()], actor="t")
        engine.dispose()
        yield {"app": app, "headers": {"Authorization": f"Bearer {operator}"}, "where": nowhere}


def _call(api: dict[str, Any], method: str, path: str, **kw: Any) -> Any:
    return request(api["app"], method, path, headers=api["headers"], **kw)


def _errors(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"selector": '{job="node"'}, "query.selector", "missing '}'"),
        ({"critical_selectors": ["{job="]}, "query.critical_selectors.0", "not a series selector"),
        ({"critical_selectors": ['{job=~".*"}']}, "query.critical_selectors.0", "every series"),
        ({"start": "2026-01-31T12:00:00"}, "query.start", "time zone"),
        ({"collector": "fluent-bit"}, "query.collector", "prometheus-agent"),
        ({"fleet_hosts": 0}, "query.fleet_hosts", "greater than or equal to 1"),
        ({"scrape_interval_seconds": 0}, "query.scrape_interval_seconds", "greater than 0"),
        ({"top_k": 0}, "query.top_k", "greater than or equal to 1"),
        ({"limit": 10_001}, "query.limit", "less than or equal to 10000"),
        ({"usage_sources": "a b"}, "query.usage_sources", "is not NAME or NAME@VERSION"),
        ({"accept_incomplete_usage": "maybe"}, "query.accept_incomplete_usage", "valid boolean"),
    ],
)
def test_a_bad_parameter_is_refused_by_name_before_prometheus_is_asked(
    api: dict[str, Any], params: dict[str, Any], field: str, says: str
) -> None:
    errors = _errors(_call(api, "GET", PATH, params=params))
    assert [loc for loc, _ in errors] == [field]
    assert says in errors[0][1]


def test_unknown_price_books_and_usage_sources_are_404s(api: dict[str, Any]) -> None:
    book = _call(api, "GET", PATH, params={"price_book": "acme"})
    assert book.status_code == 404 and "No price book 'acme' exists" in book.json()["detail"]
    source = _call(api, "GET", PATH, params={"usage_sources": "node-rules"})
    assert source.status_code == 404
    assert source.json()["detail"] == "No usage source 'node-rules' exists; none is stored."


def test_prometheus_not_answering_is_a_503_naming_it(api: dict[str, Any]) -> None:
    response = _call(api, "GET", PATH, params={"selector": '{job="node"}'})
    assert response.status_code == 503, response.text
    assert f"Cannot reach Prometheus at {api['where']}" in response.json()["detail"]


def test_a_stored_recommendation_is_read_back_and_unknown_ids_are_404s(
    api: dict[str, Any],
) -> None:
    found = _call(api, "GET", f"{PATH}/{stored().id}")
    assert found.status_code == 200, found.text
    assert Recommendation.model_validate(found.json()) == stored()
    for method, path in (("GET", ""), ("POST", "/experiment")):
        missing = _call(api, method, f"{PATH}/0123456789abcdef{path}", json={"hosts": ["web-1"]})
        assert missing.status_code == 404, missing.text
        assert "No recommendation '0123456789abcdef' is stored" in missing.json()["detail"]
        malformed = _call(api, method, f"{PATH}/not-an-id{path}", json={"hosts": ["web-1"]})
        assert [loc for loc, _ in _errors(malformed)] == ["path.recommendation_id"]


def test_a_draft_names_the_body_field_at_fault(api: dict[str, Any]) -> None:
    path = f"{PATH}/{stored().id}/experiment"
    assert [loc for loc, _ in _errors(_call(api, "POST", path, json={}))] == ["body.host_selector"]
    unknown = _errors(_call(api, "POST", path, json={"hosts": ["web-9"]}))
    assert [loc for loc, _ in unknown] == ["body.hosts.0"]
    extra = _errors(_call(api, "POST", path, json={"hosts": ["web-1"], "load": "x"}))
    assert [loc for loc, _ in extra] == ["body.load"]

    made = _call(api, "POST", path, json={"hosts": ["web-1"], "duration_seconds": 120})
    assert made.status_code == 201, made.text
    assert made.headers["location"] == f"/api/v1/experiments/{made.json()['id']}"
    spec = made.json()["spec"]
    assert spec["sources"] == [
        {"name": "app", "kind": "scrape", "address": "127.0.0.1:8080", "metrics_path": "/metrics"}
    ]
    assert spec["variants"][1]["variables"] == {"regex": "app_debug_info", "critical": []}
    assert spec["duration_seconds"] == 120


@pytest.mark.parametrize(
    ("targets", "says"),
    [
        ([], "the recommendation's series name no scrape target (job and instance): give sources"),
        (
            [Target(job="app", instance=f"10.0.0.{i}:80", series=1) for i in range(21)],
            "the recommendation's series come from 21 scrape targets, more than 20: give sources",
        ),
    ],
)
def test_a_draft_without_targets_to_scrape_asks_for_sources(
    api: dict[str, Any], targets: list[Target], says: str
) -> None:
    engine = make_engine(str(api["app"].state.services.store.engine.url))
    odd = stored(id="00000000000000ff", targets=targets)
    with Store(engine).session() as session:
        RecommendationRepository(session).save([odd], actor="t")
    engine.dispose()
    path = f"{PATH}/{odd.id}/experiment"
    assert _errors(_call(api, "POST", path, json={"hosts": ["web-1"]})) == [("body.sources", says)]
    given = [{"name": "app", "kind": "scrape", "address": "127.0.0.1:8080"}]
    made = _call(api, "POST", path, json={"hosts": ["web-1"], "sources": given})
    assert made.status_code == 201, made.text


def test_several_targets_of_a_job_get_numbered_source_names(api: dict[str, Any]) -> None:
    targets = [
        Target(job="Web.App", instance="10.0.0.1:80", series=2),
        Target(job="Web.App", instance="10.0.0.2:80", series=1),
        Target(job="db", instance="10.0.0.3:5432", series=1),
    ]
    odd = stored(id="00000000000000fe", targets=targets)
    engine = make_engine(str(api["app"].state.services.store.engine.url))
    with Store(engine).session() as session:
        RecommendationRepository(session).save([odd], actor="t")
    engine.dispose()
    made = _call(api, "POST", f"{PATH}/{odd.id}/experiment", json={"hosts": ["web-1"]})
    assert made.status_code == 201, made.text
    assert [(s["name"], s["address"]) for s in made.json()["spec"]["sources"]] == [
        ("web-app", "10.0.0.1:80"),
        ("web-app-2", "10.0.0.2:80"),
        ("db", "10.0.0.3:5432"),
    ]


def test_the_store_replaces_a_proposal_computed_again(store: Store) -> None:
    first, again = stored(), stored(series_before=50, series_change=-50)
    with store.session() as session:
        RecommendationRepository(session).save([first], actor="user:a")
    with store.session() as session:
        RecommendationRepository(session).save([again], actor="user:b")
    with store.session() as session:
        assert RecommendationRepository(session).get(first.id) == again
        row = session.get(RecommendationRow, first.id)
        assert row is not None and row.computed_by == "user:b" and row.kind == "drop_metric"
        row.document = {"no": "longer a recommendation"}  # written by another Phoenix
    with store.session() as session:
        assert RecommendationRepository(session).get(first.id) is None
        assert RecommendationRepository(session).get("ffffffffffffffff") is None


def _save_computed(url: str, recommendation: Recommendation, ago: timedelta) -> None:
    engine = make_engine(url)
    with Store(engine).session() as session:
        RecommendationRepository(session).save(
            [recommendation], actor="t", computed_at=utcnow() - ago
        )
    engine.dispose()


def test_a_recommendation_last_computed_over_30_days_ago_expired(api: dict[str, Any]) -> None:
    url = str(api["app"].state.services.store.engine.url)
    old, recent = stored(id="00000000000000e1"), stored(id="00000000000000e2")
    _save_computed(url, old, timedelta(days=30, minutes=1))
    _save_computed(url, recent, timedelta(days=29, hours=23))
    assert _call(api, "GET", f"{PATH}/{recent.id}").status_code == 200
    for method, path in (("GET", ""), ("POST", "/experiment")):
        expired = _call(api, method, f"{PATH}/{old.id}{path}", json={"hosts": ["web-1"]})
        assert expired.status_code == 404, expired.text
        assert expired.json()["detail"] == (
            f"No recommendation '{old.id}' is stored: it expired (a recommendation is kept 30 "
            "days after it was last computed) or was never computed. List them again (GET "
            "/api/v1/recommendations) to compute it again."
        )


def test_the_retention_is_phoenix_recommendations_retention_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOENIX_RECOMMENDATIONS_RETENTION_DAYS", "2")
    with app_on_sqlite(tmp_path) as (app, url):
        engine = make_engine(url)
        with Store(engine).session() as session:
            _, token = TokenRepository(session).create(
                TokenKind.USER, "vera", actor="t", role=Role.VIEWER
            )
        engine.dispose()
        _save_computed(url, stored(), timedelta(days=2, minutes=1))
        headers = {"Authorization": f"Bearer {token}"}
        expired = request(app, "GET", f"{PATH}/{stored().id}", headers=headers)
        assert expired.status_code == 404, expired.text
        assert "it expired (a recommendation is kept 2 days after" in expired.json()["detail"]
    for wrong in (0, 36_501):
        with pytest.raises(ValidationError, match="recommendations_retention_days"):
            ApiSettings(recommendations_retention_days=wrong)
