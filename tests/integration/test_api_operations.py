"""Operations around the API: /metrics, the body size limit, and dry runs (in-process app)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from phoenix_core.auth import Role, TokenKind
from phoenix_core.spec import ExperimentSpec
from phoenix_core.store.database import make_engine
from phoenix_core.store.experiments import ExperimentRepository
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tokens import TokenRepository
from phoenix_core.wire import Heartbeat, HostStatus
from support.asgi import app_on_sqlite, request
from support.specs import spec_data


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with app_on_sqlite(tmp_path_factory.mktemp("ops")) as (app, url):
        engine = make_engine(url)
        with Store(engine).session() as session:
            _, token = TokenRepository(session).create(
                TokenKind.USER, "olga", actor="t", role=Role.OPERATOR
            )
            HostRepository(session).register("web-1", actor="t")
            spec = ExperimentSpec.parse(spec_data(hosts=["web-1"], host_selector=None))
            broken = ExperimentRepository(session).create(spec, actor="t").id  # top-k version 2
            spec.variants[1].template_version = None
            experiment = ExperimentRepository(session).create(spec, actor="t").id
        engine.dispose()
        yield {
            "app": app,
            "auth": {"Authorization": f"Bearer {token}"},
            "experiment": experiment,
            "broken": broken,
        }


def test_metrics_in_prometheus_text_format(api: dict[str, Any]) -> None:
    app: FastAPI = api["app"]
    request(app, "GET", "/api/v1/hosts", headers=api["auth"])
    response = request(app, "GET", "/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'phoenix_task_queue_depth{status="pending"} 0.0' in text
    assert "phoenix_agents_online 0.0" in text
    assert "phoenix_long_polls_waiting 0.0" in text
    assert (
        'phoenix_api_request_duration_seconds_count{method="GET",route="/api/v1/hosts",'
        'status="200"} 1.0'
    ) in text
    with app.state.services.store.session() as session:
        hosts = HostRepository(session)
        beat = Heartbeat(agent_version="0.1.0", status=HostStatus.DEGRADED)
        hosts.record_heartbeat(hosts.list()[0].id, beat)  # degraded, but online
    assert "phoenix_agents_online 1.0" in request(app, "GET", "/metrics").text


def test_oversized_bodies_are_refused(api: dict[str, Any]) -> None:
    body = {"name": "x" * 2_000_000}
    response = request(api["app"], "POST", "/api/v1/experiments", headers=api["auth"], json=body)
    assert response.status_code == 413
    assert response.json()["detail"] == "The request body is larger than 1,048,576 bytes."


def test_dry_run_renders_every_variant_for_every_host(api: dict[str, Any]) -> None:
    path = f"/api/v1/experiments/{api['experiment']}/dry-run"
    response = request(api["app"], "POST", path, headers=api["auth"])
    assert response.status_code == 200, response.text
    planned = response.json()["plans"]
    assert [(p["host"], p["variant"]) for p in planned] == [
        ("web-1", "baseline"),
        ("web-1", "topk20"),
        ("web-1", "hybrid"),
    ]
    assert [p["needs_reference"] for p in planned] == [False, True, True]
    assert all(len(p["config_sha256"]) == 64 for p in planned)


def test_dry_run_names_a_missing_template_version(api: dict[str, Any]) -> None:
    path = f"/api/v1/experiments/{api['broken']}/dry-run"
    response = request(api["app"], "POST", path, headers=api["auth"])
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "loc": ["variants", 1, "template"],
            "msg": "No pipeline template 'top-k' version 2 exists (versions: 1).",
        }
    ]
