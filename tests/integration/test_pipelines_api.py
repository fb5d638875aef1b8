"""The pipelines API: templates, render and forecast, on the real app in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI

from phoenix_core.auth import Role, TokenKind
from phoenix_core.store.database import make_engine
from phoenix_core.store.session import Store
from phoenix_core.store.tokens import TokenRepository
from support.asgi import app_on_sqlite, request


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    folder: Path = tmp_path_factory.mktemp("pipelines")
    with app_on_sqlite(folder) as (app, url):
        engine = make_engine(url)
        with Store(engine).session() as session:
            _, token = TokenRepository(session).create(
                TokenKind.USER, "vera", actor="t", role=Role.VIEWER
            )
        engine.dispose()
        yield app, {"Authorization": f"Bearer {token}"}


INVENTORY: list[dict[str, Any]] = [
    {"__name__": "process_cpu_seconds_total", "process": p, "pid": str(i), "__value__": v}
    for i, (p, v) in enumerate([("a", 5.0), ("b", 3.0), ("c", 0.001), ("kubelet", 0.1)])
]


def test_templates_are_listed_and_described(api: tuple[FastAPI, dict[str, str]]) -> None:
    app, auth = api
    listed = request(app, "GET", "/api/v1/pipelines/templates", headers=auth).json()
    assert [t["name"] for t in listed] == [
        "adaptive-filter",
        "aggregate",
        "baseline",
        "drop-labels",
        "drop-metrics",
        "hybrid",
        "keep-series",
        "top-k",
    ]
    top_k = request(app, "GET", "/api/v1/pipelines/templates/top-k", headers=auth).json()
    assert top_k["variables"]["k"]["type"] == "integer"
    missing = request(app, "GET", "/api/v1/pipelines/templates/nope", headers=auth)
    assert missing.status_code == 404


def test_render_gives_a_complete_config(api: tuple[FastAPI, dict[str, str]]) -> None:
    app, auth = api
    body = {"template": "top-k", "variables": {"k": 1}, "reference": INVENTORY}
    rendered = request(app, "POST", "/api/v1/pipelines/render", headers=auth, json=body).json()
    config = yaml.safe_load(rendered["config"])
    assert rendered["collector"] == "prometheus-agent"
    assert rendered["refresh_seconds"] == 60
    assert config["global"]["external_labels"]["phoenix_variant"] == "preview"
    assert rendered["pipeline"]["steps"] == [
        {
            "top_k": {
                "metric": "process_cpu_seconds_total",
                "k": 1,
                "by_label": "process",
                "metrics": "process_.*",
            }
        }
    ]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"template": "aggregate"}, "steps.0"),
        ({"template": "top-k", "variables": {"k": 0}}, "variables.k"),
        ({"template": "top-k"}, "steps.0"),  # no reference values for the keep-list
        ({"template": "baseline", "collector": "fluentd"}, "body.collector"),
    ],
)
def test_render_refusals_name_the_field(
    api: tuple[FastAPI, dict[str, str]], body: dict[str, Any], path: str
) -> None:
    app, auth = api
    response = request(app, "POST", "/api/v1/pipelines/render", headers=auth, json=body)
    assert response.status_code == 422, response.text
    assert path in {".".join(map(str, e["loc"])) for e in response.json()["errors"]}


def test_forecast(api: tuple[FastAPI, dict[str, str]]) -> None:
    app, auth = api
    body = {"template": "adaptive-filter", "variables": {"threshold": 0.05}, "inventory": INVENTORY}
    result = request(app, "POST", "/api/v1/pipelines/forecast", headers=auth, json=body).json()
    assert (result["input_series"], result["output_series"]) == (4, 3)
    assert result["waterfall"][0]["removed"] == 1
    assert result["per_metric"][0]["metric"] == "process_cpu_seconds_total"


@pytest.mark.parametrize(
    ("series", "path"),
    [
        ({"__name__": "m", "__value__": []}, "inventory.0.__value__"),  # found by schemathesis
        ({"__name__": "m", "__value__": "fast"}, "inventory.0.__value__"),
        ({"__name__": "m", "job": {"a": 1}}, "inventory.0.job"),
    ],
)
def test_forecast_refuses_series_it_cannot_read(
    api: tuple[FastAPI, dict[str, str]], series: dict[str, Any], path: str
) -> None:
    app, auth = api
    body = {"template": "baseline", "inventory": [series]}
    response = request(app, "POST", "/api/v1/pipelines/forecast", headers=auth, json=body)
    assert response.status_code == 422, response.text
    assert path in {".".join(map(str, e["loc"])) for e in response.json()["errors"]}


def test_a_forecast_for_a_collector_refuses_what_it_would_refuse_on_these_series(
    api: tuple[FastAPI, dict[str, str]],
) -> None:
    """Dropping pid merges the series of one process on prometheus-agent, which cannot sum
    them: with the collector named, the forecast says so at once, naming the step."""
    app, auth = api
    merging = [*INVENTORY, {**INVENTORY[0], "pid": "99"}]  # process a twice
    body = {"template": "drop-labels", "inventory": merging, "collector": "prometheus-agent"}
    response = request(app, "POST", "/api/v1/pipelines/forecast", headers=auth, json=body)
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["loc"] == ["steps", 0]
    assert "1 series would collide once pid are removed" in error["msg"]
    body["collector"] = "otelcol"  # which sums them
    assert request(app, "POST", "/api/v1/pipelines/forecast", headers=auth, json=body).is_success
    del body["collector"]
    assert request(app, "POST", "/api/v1/pipelines/forecast", headers=auth, json=body).is_success


def test_validate_says_which_collectors_can_run_a_choice(
    api: tuple[FastAPI, dict[str, str]],
) -> None:
    app, auth = api
    path = "/api/v1/pipelines/validate"
    aggregate = request(app, "POST", path, headers=auth, json={"template": "aggregate"}).json()
    verdicts = {v["collector"]: v for v in aggregate["collectors"]}
    assert aggregate["valid"] is True
    assert verdicts["otelcol"] == {"collector": "otelcol", "valid": True, "problems": []}
    assert verdicts["prometheus-agent"]["valid"] is False
    assert verdicts["prometheus-agent"]["problems"][0]["loc"] == ["steps", 0]
    body = {"template": "top-k", "variables": {"k": 0}, "collectors": ["prometheus-agent"]}
    bad = request(app, "POST", path, headers=auth, json=body).json()
    assert bad["valid"] is False and bad["collectors"] == []
    assert [p["loc"] for p in bad["problems"]] == [["variables", "k"]]
    top_k = {"template": "top-k", "variables": {"k": 3}, "collectors": ["prometheus-agent"]}
    assert request(app, "POST", path, headers=auth, json=top_k).json()["valid"] is True


def test_template_versions(api: tuple[FastAPI, dict[str, str]]) -> None:
    app, auth = api
    path = "/api/v1/pipelines/templates/top-k/versions"
    versions = request(app, "GET", path, headers=auth).json()
    assert [(v["version"], v["refresh_seconds"]) for v in versions] == [(1, 60)]
    assert "k" in versions[0]["variables"]
    missing = request(app, "GET", "/api/v1/pipelines/templates/nope/versions", headers=auth)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
