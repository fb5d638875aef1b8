"""Loads that work or say why not, and dry runs that forecast, on the real app in-process: a
``loadsim`` source without a load is refused naming ``load_profile``; a dry run forecasts each
variant over the load's series and warns where a candidate cannot save anything; the CLI prints
it, through the real client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from phoenix_api.cli import experiments as experiment_commands
from phoenix_core.auth import Role, TokenKind
from phoenix_core.client import PhoenixClient
from phoenix_core.spec import STORED, ExperimentSpec
from phoenix_core.store.database import make_engine
from phoenix_core.store.experiments import ExperimentRepository
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tokens import TokenRepository
from support.asgi import app_on_sqlite, request

PROCESSES, METRICS = 50, 2
"""The load: 50 simulated processes in each of 2 metric families (100 series per host)."""
LOAD = {"name": "high-cardinality", "parameters": {"series": PROCESSES, "metrics": METRICS}}
BASELINE = {"name": "baseline", "role": "baseline", "template": "baseline"}
TOP5 = {"name": "top5", "role": "candidate", "template": "top-k", "variables": {"k": 5}}
NO_PID = {
    "name": "no-pid",
    "role": "candidate",
    "template": "drop-labels",
    "variables": {"labels": ["pid"]},
}
NO_PROCESS = {
    "name": "no-process",
    "role": "candidate",
    "template": "drop-labels",
    "variables": {"labels": ["pid", "process"]},
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with app_on_sqlite(tmp_path_factory.mktemp("dry-run")) as (app, url):
        engine = make_engine(url)
        with Store(engine).session() as session:
            _, token = TokenRepository(session).create(
                TokenKind.USER, "olga", actor="t", role=Role.OPERATOR
            )
            HostRepository(session).register("web-1", actor="t")
        engine.dispose()
        yield {"app": app, "token": token, "auth": {"Authorization": f"Bearer {token}"}}


def _spec(*variants: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"name": "dry", "hosts": ["web-1"], "variants": [BASELINE, *variants]} | changes


def _create(api: dict[str, Any], spec: dict[str, Any]) -> str:
    created = request(api["app"], "POST", "/api/v1/experiments", headers=api["auth"], json=spec)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _dry_run(api: dict[str, Any], experiment: str) -> httpx.Response:
    path = f"/api/v1/experiments/{experiment}/dry-run"
    return request(api["app"], "POST", path, headers=api["auth"])


def test_a_loadsim_source_without_a_load_is_refused_naming_load_profile(
    api: dict[str, Any],
) -> None:
    """The default sources are loadsim and node: without a load_profile the loadsim source
    would scrape nothing, and the create says so instead of dropping it."""
    refused = request(
        api["app"], "POST", "/api/v1/experiments", headers=api["auth"], json=_spec(TOP5)
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    [error] = refused.json()["errors"]
    assert error["loc"] == ["body", "load_profile"]
    assert error["msg"].startswith(
        "Value error, source 'loadsim' (sources.0; the default sources are loadsim and node) "
        "scrapes the load the agent runs, and no load_profile is given: give a load_profile "
        "that serves series (profiles: high-cardinality or spike)"
    )
    realistic = _spec(TOP5, load_profile={"name": "realistic"})
    refused = request(
        api["app"], "POST", "/api/v1/experiments", headers=api["auth"], json=realistic
    )
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["loc"] == ["body", "load_profile"]
    assert "the realistic load serves no series" in error["msg"]


@pytest.mark.parametrize(
    ("load", "why"),
    [
        (None, "scrapes the load the agent runs, and no load_profile is given"),
        (
            {"name": "realistic", "parameters": {}},
            "would scrape nothing, as the realistic load serves no series",
        ),
    ],
)
def test_a_stored_draft_from_before_the_check_reads_but_neither_dry_runs_nor_starts(
    api: dict[str, Any], load: dict[str, Any] | None, why: str
) -> None:
    """A draft stored when a loadsim source without a load that serves it was still accepted
    (and silently left out, or scraping nothing, at deploy) still reads; its dry run and start
    are refused, naming load_profile."""
    store: Store = api["app"].state.services.store
    spec = ExperimentSpec.model_validate(_spec(TOP5, load_profile=load), context=STORED)
    with store.session() as session:
        experiment = str(ExperimentRepository(session).create(spec, actor="t").id)
    got = request(api["app"], "GET", f"/api/v1/experiments/{experiment}", headers=api["auth"])
    assert got.status_code == 200, got.text
    assert got.json()["spec"]["load_profile"] == load
    for action in ("dry-run", "start"):
        path = f"/api/v1/experiments/{experiment}/{action}"
        refused = request(api["app"], "POST", path, headers=api["auth"])
        assert refused.status_code == 422, (action, refused.text)
        [error] = refused.json()["errors"]
        assert error["loc"] == ["load_profile"], action
        assert error["msg"].startswith(
            f"source 'loadsim' (sources.0; the default sources are loadsim and node) {why}"
        ), action


def test_a_dry_run_forecasts_each_variant_over_the_load_and_warns(api: dict[str, Any]) -> None:
    """The load is 50 processes x 2 metrics; top-5 keeps the 5 busiest processes' series in
    each metric. Dropping pid saves nothing (process names are unique) and on prometheus-agent
    never can; dropping process too merges series, which prometheus-agent refuses."""
    experiment = _create(api, _spec(TOP5, NO_PID, NO_PROCESS, load_profile=LOAD))
    answer = _dry_run(api, experiment)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"plans", "forecast", "warnings"}
    assert [(p["host"], p["variant"]) for p in body["plans"]] == [
        ("web-1", v) for v in ("baseline", "top5", "no-pid", "no-process")
    ]
    series = PROCESSES * METRICS
    rows = {row["variant"]: row for row in body["forecast"]}
    assert {name: (r["series_in"], r["series_out"]) for name, r in rows.items()} == {
        "baseline": (series, series),
        "top5": (series, 5 * METRICS),
        "no-pid": (series, series),
        "no-process": (series, METRICS),  # one series per metric, were it summed
    }
    assert rows["top5"]["change_percent"] == (5 * METRICS - series) / series * 100
    assert rows["baseline"]["change_percent"] is None
    assert {r["unit"] for r in rows.values()} == {"series"}
    assert {r["host"] for r in rows.values()} == {None}  # the same load on every host
    assert rows["top5"]["based_on"] == (
        f"source loadsim: the high-cardinality load's {PROCESSES} processes × {METRICS} metrics"
        f" = {series} series, per host; not forecast: node (node-exporter), whose series are "
        "known once the baseline runs"
    )
    assert [(s["kind"], s["series_in"], s["series_out"]) for s in rows["top5"]["steps"]] == [
        ("top_k", series, 5 * METRICS)
    ]
    warnings = {(w["variant"], w["step"], w["message"].split()[3]) for w in body["warnings"]}
    assert warnings == {
        ("no-pid", 0, "cannot"),  # cannot lower the series count on prometheus-agent
        ("no-pid", 0, "removes"),  # removes none of these series: as the baseline
        ("no-process", 0, "merges"),  # merges series, which prometheus-agent refuses
    }
    messages = {w["message"] for w in body["warnings"]}
    assert (
        "no-pid, steps.0 (drop_labels) cannot lower the series count on prometheus-agent: "
        "relabelling cannot sum series: it runs only where no series collide, so every series "
        "stays (with fewer labels)"
    ) in messages
    assert (
        f"no-pid, steps.0 (drop_labels) removes none of the {series} series of source loadsim "
        "(no two coincide once pid is removed), so no-pid's forecast equals the baseline's: "
        f"{series} series"
    ) in messages
    assert (
        f"no-process, steps.0 (drop_labels) merges {series - METRICS} of the {series} series of"
        " source loadsim in the forecast, and prometheus-agent refuses that once the "
        "baseline's series show it (a start fails)"
    ) in {m.split(": relabelling")[0] for m in messages}


def test_on_otelcol_dropping_labels_saves_series_and_only_a_no_op_is_warned(
    api: dict[str, Any],
) -> None:
    """otelcol sums the series a drop of labels makes coincide: no collector warning there."""
    spec = _spec(NO_PID, NO_PROCESS, load_profile=LOAD, collector="otelcol")
    body = _dry_run(api, _create(api, spec)).json()
    assert {r["variant"]: r["series_out"] for r in body["forecast"]}["no-process"] == METRICS
    assert [(w["variant"], w["step"]) for w in body["warnings"]] == [("no-pid", 0)]
    assert "so no-pid's forecast equals the baseline's" in body["warnings"][0]["message"]


def test_without_a_loadsim_source_a_draft_has_no_forecast_and_says_why(
    api: dict[str, Any],
) -> None:
    spec = _spec(TOP5, sources=[{"name": "node", "kind": "node-exporter"}])
    body = _dry_run(api, _create(api, spec)).json()
    assert len(body["plans"]) == 2
    assert body["forecast"] == []
    assert body["warnings"] == [
        {
            "variant": None,
            "step": None,
            "kind": None,
            "host": None,
            "message": "No forecast: the series of node (node-exporter) are known only once "
            "the baseline runs; a dry run of the started experiment forecasts from them.",
        }
    ]


def test_the_cli_prints_plans_forecast_and_warnings(
    api: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``phoenix experiment dry-run ID`` through the real client, against the real app."""
    experiment = _create(api, _spec(TOP5, NO_PID, load_profile=LOAD))

    def to_the_app(sent: httpx.Request) -> httpx.Response:
        got = request(
            api["app"], sent.method, sent.url.raw_path.decode(), headers=sent.headers,
            content=sent.content,
        )  # fmt: skip
        headers = {k: v for k, v in got.headers.items() if k != "content-encoding"}
        return httpx.Response(got.status_code, headers=headers, content=got.content)

    client = PhoenixClient(
        "http://phoenix", api["token"], transport=httpx.MockTransport(to_the_app)
    )
    monkeypatch.setattr(experiment_commands, "api_client", lambda: client)
    result = CliRunner().invoke(experiment_commands.experiment, ["dry-run", experiment])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    series = PROCESSES * METRICS
    assert lines[lines.index("") + 1 :] == [
        "Forecast on each host, in series, by the forecast simulator",
        f"  based on source loadsim: the high-cardinality load's {PROCESSES} processes × "
        f"{METRICS} metrics = {series} series, per host; not forecast: node (node-exporter), "
        "whose series are known once the baseline runs",
        "VARIANT          ROLE        SERIES IN  SERIES OUT   CHANGE",
        f"baseline         baseline          {series}         {series}",
        f"top5             candidate         {series}          {5 * METRICS}   -90.0%",
        f"no-pid           candidate         {series}         {series}    +0.0%",
        "",
        "Warnings:",
        "  - no-pid, steps.0 (drop_labels) cannot lower the series count on prometheus-agent: "
        "relabelling cannot sum series: it runs only where no series collide, so every series "
        "stays (with fewer labels)",
        f"  - no-pid, steps.0 (drop_labels) removes none of the {series} series of source "
        "loadsim (no two coincide once pid is removed), so no-pid's forecast equals the "
        f"baseline's: {series} series",
    ]
    assert [line.split()[:2] for line in lines[1:4]] == [
        ["web-1", "baseline"],
        ["web-1", "top5"],
        ["web-1", "no-pid"],
    ]
