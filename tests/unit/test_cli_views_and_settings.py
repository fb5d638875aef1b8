"""The CLI's settings, errors and views without a server: unknown ``PHOENIX_*`` variables, the
token's shape (never quoted), a URL that is not a Phoenix API, ``show`` and ``watch`` lines."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from phoenix_api.cli import _settings_classes
from phoenix_api.cli.views import Waiting, event_line, experiment_lines, task_line
from phoenix_core.client import ClientSettings, NotPhoenixApi, PhoenixClient
from phoenix_core.errors import ConfigurationError, NotFound
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.settings import known_variables, unknown_variable_warnings

TOKEN = "phx_u_" + "A1b2-_" * 7 + "z"
EXPERIMENT: dict[str, Any] = {
    "id": "0b5c4a0e-0000-4000-8000-000000000001",
    "state": "draft",
    "state_changed_at": "2025-01-02T03:04:05.678+00:00",
    "verdict": None,
    "verdict_reasons": [],
    "failure_reason": None,
    "spec": {
        "name": "drop pid",
        "collector": "prometheus-agent",
        "duration_seconds": 300,
        "hosts": None,
        "host_selector": {"env": "staging"},
        "variants": [
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {
                "name": "slim",
                "role": "candidate",
                "template": "drop-labels",
                "variables": {"labels": ["pid"]},
            },
        ],
    },
}


def _row(
    variant: str, host: str | None, value: float, change: float | None = None
) -> dict[str, Any]:
    return {"variant": variant, "host": host, "kpi": "active_series", "value": value,
            "change_percent": change}  # fmt: skip


KPIS = {
    "kpis": [
        _row("baseline", None, 805),
        _row("slim", None, 412, -48.8),
        _row("baseline", "web-1", 400),
        _row("baseline", "web-2", 405),
        {**_row("slim", None, 0.2), "kpi": "collector_cpu_cores"},
    ]
}


def test_the_known_variables_are_those_of_every_settings_class_phoenix_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PHOENIX_CONTROLLER_INTERVAL_SECONDS", "1")
    known = known_variables(*_settings_classes())
    assert {"PHOENIX_API_URL", "PHOENIX_TOKEN", "PHOENIX_DATABASE_URL", "PHOENIX_DATA_DIR",
            "PHOENIX_PORT", "PHOENIX_CONTROLLER_DEPLOY_TIMEOUT_SECONDS"} <= known  # fmt: skip
    environ = {"PHOENIX_TOKNE": "x", "PHOENIX_DATABASE_URL": "x", "PHOENIX_AGENT_API_URL": "x",
               "phoenix_api_url": "x", "HOME": "/root"}  # fmt: skip
    assert unknown_variable_warnings(
        "phoenix", _settings_classes(), environ, others=("PHOENIX_AGENT_",)
    ) == [
        "PHOENIX_TOKNE is not a setting of phoenix, which ignores it; did you mean PHOENIX_TOKEN?"
    ]


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (TOKEN + " ", "it begins or ends with whitespace (a space or a line break, as copied)"),
        (TOKEN + "\n", "it begins or ends with whitespace"),
        (TOKEN[:20] + " " + TOKEN[20:], "it holds a space; a Phoenix token is phx_u_"),
        ("secret-token-value", "a Phoenix token is phx_u_ (a user's), phx_e_ (enrolment)"),
    ],
)
def test_a_malformed_token_is_refused_by_its_variable_never_quoted(
    token: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ClientSettings(api_url="http://phoenix:8000", token=token).client()
    message = str(caught.value)
    assert message.startswith(f"PHOENIX_TOKEN is malformed: {problem}")
    assert token.strip()[8:] not in message


def test_a_missing_token_names_both_variables() -> None:
    with pytest.raises(
        ConfigurationError, match=r"^PHOENIX_TOKEN is not set: .* \(PHOENIX_API_URL\)"
    ):
        ClientSettings(api_url="http://phoenix:8000", token=None).client()


def _client(handler: Any) -> PhoenixClient:
    return PhoenixClient("http://wrong:9090", TOKEN, transport=httpx.MockTransport(handler),
                         url_setting="PHOENIX_API_URL", token_setting="PHOENIX_TOKEN")  # fmt: skip


def test_a_url_that_is_not_a_phoenix_api_names_the_setting() -> None:
    def plain_404(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="404 page not found\n")

    def html_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, html="<html>Grafana</html>")

    with _client(plain_404) as client, pytest.raises(NotPhoenixApi) as caught:
        client.hosts()
    assert str(caught.value) == (
        "http://wrong:9090 (PHOENIX_API_URL) is not a Phoenix API: GET /api/v1/hosts answered"
        ' 404 Not Found ("404 page not found"), not a problem document; check the URL (HTTP 404)'
    )
    with _client(html_page) as client, pytest.raises(NotPhoenixApi, match="answered text/html"):
        client.hosts()


def test_an_unreachable_api_never_prints_the_token() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused, header was {request.headers['authorization']}")

    with _client(refuse) as client, pytest.raises(Exception, match="Cannot reach") as caught:
        client.hosts()
    assert TOKEN not in str(caught.value) and "Bearer phx_…" in str(caught.value)


def test_an_unknown_template_lists_the_templates() -> None:
    library = TemplateLibrary.builtin()
    with pytest.raises(NotFound, match=r"^No pipeline template 'topk' exists \(templates: .*top-k"):
        library.get("topk")
    with pytest.raises(NotFound, match=r"'top-k' version 9 exists \(versions: 1\)"):
        library.get("top-k", 9)


def test_show_lines_name_state_reasons_hosts_variants_and_series() -> None:
    failed = dict(EXPERIMENT, state="failed", failure_reason="deploy timed out after 120 s")
    lines = experiment_lines(failed, None)
    assert lines[1:3] == [
        "State:      failed since 2025-01-02 03:04:05 UTC",
        "  because:  deploy timed out after 120 s",
    ]
    assert "Hosts:      those labelled env=staging" in lines
    assert lines[-1] == "(series per variant once analysed: phoenix experiment report ID)"
    judged = dict(EXPERIMENT, state="completed", verdict="pass", verdict_reasons=["slim saves 49%"])
    lines = experiment_lines(judged, KPIS)
    assert lines[2:4] == ["Verdict:    pass", "  - slim saves 49%"]
    assert "Hosts:      web-1, web-2" in lines
    rows = {line.split()[0]: line for line in lines[lines.index("") + 2 :]}
    assert rows["baseline"].split() == ["baseline", "baseline", "baseline", "805"]
    assert rows["slim"].endswith("drop-labels labels=[pid]     412 (-48.8% against the baseline)")


def test_watch_lines_name_variant_host_and_what_a_deploy_waits_for() -> None:
    notice = {"type": "collector", "action": "start", "attempt": 1, "status": "running",
              "variant": "baseline", "host": "web-1"}  # fmt: skip
    assert task_line(notice) == "baseline on web-1: collector/start attempt 1: running"
    assert task_line({**notice, "variant": None, "type": "loadsim"}).startswith("web-1: loadsim/")
    waiting = Waiting()
    waits = {"variant": "slim", "host": "web-1", "waiting_for": "the baseline's inventory"}
    assert waiting.update("deploy_waiting", waits) == (
        "waiting for: slim on web-1: the baseline's inventory"
    )
    assert waiting.update("task_updated", notice) == (
        "waiting for: baseline on web-1: its collector to start (running);"
        " slim on web-1: the baseline's inventory"
    )
    assert waiting.update("task_updated", notice) is None  # nothing changed
    done = {**notice, "status": "succeeded"}
    assert waiting.update("task_updated", done) == (
        "waiting for: slim on web-1: the baseline's inventory"
    )
    moved = {"from": "deploying", "to": "warming_up"}
    assert waiting.update("experiment_state_changed", moved) is None
    reload = {**notice, "action": "reload", "variant": "slim"}  # a keep-list refresh, running
    assert waiting.update("task_updated", reload) is None


def test_event_lines_say_what_happened() -> None:
    refreshed = {"variant": "top", "host": "web-1", "previous_config_sha256": "a" * 64,
                 "config_sha256": "b" * 64}  # fmt: skip
    assert event_line("config_refreshed", refreshed) == (
        "top on web-1: its config changed at a refresh (aaaaaaaaaaaa -> bbbbbbbbbbbb), reloading"
    )
    failed = {"from": "deploying", "to": "failed", "reason": "deploy timed out"}
    assert event_line("experiment_state_changed", failed) == (
        "deploying -> failed  (deploy timed out)"
    )
    analysed = {"verdict": "pass", "source": "stored"}
    assert event_line("experiment_analysed", analysed) == "verdict pass, recomputed from stored"
