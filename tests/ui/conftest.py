"""The world the dashboards' browser tests look at: a real ``phoenix api serve`` (SQLite, the
dashboards mounted under /dashboards) with real data, ``phoenix dashboards serve`` beside it,
and one Chromium for the module.

The data, all through the API except the analyses: three hosts enrolled through the agent API
(web-1 healthy, then degraded with a crash-looping collector; web-2 degraded; db-1 never
heard from, so offline); an experiment started on web-1 and deployed by a real controller
(stopped once the collectors are placed, so that the crash loop web-1 then reports does not
end it); two experiments analysed (``completed_with_analysis``); four drafts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

import phoenix_core
from phoenix_core.auth import Role, TokenKind
from phoenix_core.client import PhoenixClient
from phoenix_core.lifecycle import Verdict
from phoenix_core.store.database import make_engine
from phoenix_core.store.migrate import upgrade
from phoenix_core.store.session import Store
from phoenix_core.store.tokens import TokenRepository
from support.control_plane import receiving_at
from support.dashboards import (
    World,
    chromium,
    completed_with_analysis,
    dashboards_server,
    user_token,
)
from support.processes import api_server, controller_process
from support.prometheus import prometheus_server
from support.specs import NO_LOAD, spec_data
from support.waiting import until

SLIM = {"name": "slim", "role": "candidate", "template": "drop-metrics",
        "variables": {"regex": "go_.*"}}  # fmt: skip
"""A candidate that needs no reference values: both collectors are placed at once."""


def _spec(name: str, host: str, **overrides: Any) -> dict[str, Any]:
    data = spec_data(name=name, hosts=[host], host_selector=None,
                     sink={"kind": "prometheus-remote-write"}, **NO_LOAD)  # fmt: skip
    data["variants"] = [{"name": "baseline", "role": "baseline", "template": "baseline"}, SLIM]
    return data | overrides


def _enrol(url: str, enrolment: str, hostname: str, labels: dict[str, str]) -> httpx.Client:
    """The host enrolled through the agent API; a client with its own token."""
    body = {"hostname": hostname, "agent_version": phoenix_core.__version__, "labels": labels}
    answer = httpx.post(f"{url}/agent/v1/register", json=body,
                        headers={"Authorization": f"Bearer {enrolment}"})  # fmt: skip
    assert answer.status_code == 201, answer.text
    token = answer.json()["token"]
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})


def _beat(host: httpx.Client, status: str, pipelines: list[dict[str, Any]] | None = None) -> None:
    usage = {"cpu_percent": 23.456, "memory_percent": 41.2, "memory_bytes": 2**31,
             "disk_percent": 50.0}  # fmt: skip
    beat = {"agent_version": phoenix_core.__version__, "status": status,
            "resource_usage": usage, "active_pipelines": pipelines or []}  # fmt: skip
    assert host.post("/agent/v1/heartbeat", json=beat).status_code == 200


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("dashboards")
    database_url = f"sqlite:///{folder / 'phoenix.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    viewer = user_token(database_url, "vic", Role.VIEWER)
    operator = user_token(database_url, "olga", Role.OPERATOR)
    store = Store(make_engine(database_url))
    with store.session() as session:
        _, enrolment = TokenRepository(session).create(TokenKind.ENROLMENT, "rack", actor="t")
    store.dispose()
    with ExitStack() as stack:
        receiver = stack.enter_context(prometheus_server())
        env = {
            "PHOENIX_DATABASE_URL": database_url,
            "PHOENIX_DASHBOARDS": "true",
            "PHOENIX_RUN_CONTROLLER": "false",
            "PHOENIX_CONTROLLER_INTERVAL_SECONDS": "0.2",
            **receiving_at(receiver),
        }
        url, _ = stack.enter_context(api_server(env, log=folder / "api.log"))
        web1 = stack.enter_context(
            _enrol(url, enrolment, "web-1", {"env": "staging", "role": "web"})
        )
        web2 = stack.enter_context(
            _enrol(url, enrolment, "web-2", {"env": "staging", "role": "web"})
        )
        stack.enter_context(_enrol(url, enrolment, "db-1", {"env": "prod", "role": "db"}))
        _beat(web1, "healthy")
        _beat(web2, "degraded")
        operating = stack.enter_context(PhoenixClient(url, operator))
        made: dict[str, str] = {}
        running = operating.create_experiment(_spec("slim on web-1", "web-1"))["id"]
        made["slim on web-1"] = running
        operating.start_experiment(running)
        with controller_process(env):  # deploys it: its collectors are placed on web-1
            until(lambda: len(operating.collectors()) == 2, "the collectors were placed")
        tasks = web1.get("/agent/v1/tasks", params={"wait": 0}).json()["tasks"]
        reports = [
            {"experiment_id": running, "variant": t["payload"]["variant"],
             "config_sha256": t["payload"]["config_sha256"],
             "status": "crash_looping" if t["payload"]["variant"] == "slim" else "running",
             "restarts": 6 if t["payload"]["variant"] == "slim" else 1}
            for t in tasks if t["type"] == "collector"
        ]  # fmt: skip
        _beat(web1, "degraded", reports)
        for name in ("draft a", "draft b"):
            made[name] = operating.create_experiment(_spec(name, "web-2"))["id"]
        for name, verdict, winner, change in (
            ("drop pid", Verdict.PASS, "slim", -48.8),
            ("keep all", Verdict.FAIL, None, -3.0),
        ):
            made[name] = operating.create_experiment(_spec(name, "web-2"))["id"]
            completed_with_analysis(database_url, made[name], verdict=verdict, winner=winner,
                                    changes={"slim": change})  # fmt: skip
        for name in ("draft c", "draft d"):
            made[name] = operating.create_experiment(_spec(name, "web-2"))["id"]
        log = stack.enter_context((folder / "dashboards.log").open("a"))
        standalone = stack.enter_context(dashboards_server(url, log))
        yield World(url, standalone, database_url, viewer, operator, folder, made)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium a module: Playwright's sync API holds an asyncio loop running in this
    thread while it lives, which ``asyncio.run`` in any later test of the worker refuses."""
    with chromium() as launched:
        yield launched
