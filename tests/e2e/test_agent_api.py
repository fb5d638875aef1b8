"""The agent API of a real ``phoenix api serve`` on PostgreSQL, driven as an agent would."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

import phoenix_core
from phoenix_core.queue import NewTask, open_queue
from phoenix_core.store.database import make_engine
from phoenix_core.store.session import Store
from phoenix_core.store.tables import ActivePipelineRow, CollectorConfigRow, ExperimentRow
from phoenix_core.store.types import utcnow
from phoenix_core.wire import TaskAction, TaskType
from support.processes import api_server, run_cli


@dataclass
class Api:
    url: str
    database_url: str
    enrolment: str
    viewer: str

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def enrol(self, hostname: str) -> tuple[uuid.UUID, str]:
        with self.client(self.enrolment) as client:
            response = client.post(
                "/agent/v1/register",
                json={"hostname": hostname, "agent_version": phoenix_core.__version__},
            )
        assert response.status_code == 201, response.text
        body = response.json()
        return uuid.UUID(body["host_id"]), body["token"]


@pytest.fixture
def api(postgres_url: str) -> Iterator[Api]:
    env = {"PHOENIX_DATABASE_URL": postgres_url}
    enrolment = run_cli("phoenix", ["enrolment-token", "create", "rack-7"], env).stdout.strip()
    viewer = run_cli("phoenix", ["token", "create", "vera", "--role", "viewer"], env).stdout.strip()
    with api_server(env) as (url, _):
        yield Api(url, postgres_url, enrolment, viewer)


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


def test_tokens_are_checked_before_anything_else(api: Api) -> None:
    with api.client(None) as client:
        missing = client.post("/agent/v1/heartbeat", content=b"{not json")
        assert missing.headers["www-authenticate"] == 'Bearer realm="phoenix"'
        assert "Authorization: Bearer" in str(_problem(missing, 401)["detail"])
    with api.client("phx_h_" + "x" * 43) as client:
        assert (
            _problem(client.get("/agent/v1/tasks?wait=0"), 401)["detail"]
            == "The token is not known."
        )
    with api.client(api.viewer) as client:
        detail = _problem(client.get("/agent/v1/tasks?wait=0"), 403)["detail"]
        assert detail == "This is for agents: it needs a host token."
        register = client.post("/agent/v1/register", json={"hostname": "h", "agent_version": "0"})
        assert _problem(register, 403)["detail"] == "Enrolling a host needs an enrolment token."


def test_enrolment_refuses_an_incompatible_agent(api: Api) -> None:
    with api.client(api.enrolment) as client:
        response = client.post(
            "/agent/v1/register", json={"hostname": "old", "agent_version": "9.0.0"}
        )
    assert "Agent version 9.0.0 cannot work with this Phoenix" in str(
        _problem(response, 409)["detail"]
    )


def test_an_agent_polls_reports_and_beats(api: Api) -> None:
    host_id, token = api.enrol("web-1")
    _, other_token = api.enrol("web-2")
    engine = make_engine(api.database_url)
    queue = open_queue(engine)
    try:
        with api.client(token) as agent, api.client(other_token) as other:
            assert agent.post(
                "/agent/v1/heartbeat", json={"agent_version": "0.1.0", "status": "healthy"}
            ).json() == {"leases_extended": 0}
            assert agent.get("/agent/v1/tasks", params={"wait": 0}).json() == {
                "tasks": [],
                "cancellations": [],
            }
            # a long-poll returns as soon as a task is enqueued for its host: enqueued only once
            # the poll is held (it found nothing and waits), so only the enqueue's notification
            # can return it with the task; unwoken, it would answer empty after 48-60 s, and the
            # client gives up after 30 s
            result: list[httpx.Response | httpx.HTTPError] = []

            def long_poll() -> None:
                try:
                    result.append(agent.get("/agent/v1/tasks", params={"wait": 60}))
                except httpx.HTTPError as exc:  # the client's 30 s timeout: it was never woken
                    result.append(exc)

            poll = threading.Thread(target=long_poll)
            poll.start()
            _until_listening(api.database_url)  # else its reconnection, not the task, wakes it
            _until_polls_held(api.url, 1)
            task_id = queue.enqueue(
                [NewTask(host_id, TaskType.NOOP, TaskAction.RUN, {"note": "hi"})]
            )[0]
            poll.join(timeout=45)
            assert result and isinstance(result[0], httpx.Response), result
            assert result[0].status_code == 200, result[0].text
            (task,) = result[0].json()["tasks"]
            assert (task["id"], task["type"], task["action"], task["attempt"]) == (
                task_id,
                "noop",
                "run",
                1,
            )
            # only the holder may report; attempts fence; repeats are fine
            assert _problem(
                other.post(
                    f"/agent/v1/tasks/{task_id}/status", json={"attempt": 1, "status": "running"}
                ),
                404,
            )
            stale = agent.post(
                f"/agent/v1/tasks/{task_id}/status", json={"attempt": 2, "status": "running"}
            )
            assert "a report for attempt 2 is stale" in str(_problem(stale, 409)["detail"])
            assert agent.post(
                f"/agent/v1/tasks/{task_id}/status", json={"attempt": 1, "status": "running"}
            ).json() == {"applied": True}
            beat = agent.post(
                "/agent/v1/heartbeat", json={"agent_version": "0.1.0", "status": "healthy"}
            )
            assert beat.json() == {"leases_extended": 1}
            done = agent.post(
                f"/agent/v1/tasks/{task_id}/status",
                json={"attempt": 1, "status": "succeeded", "result": {"ok": True}},
            )
            assert done.json() == {"applied": True}
            again = agent.post(
                f"/agent/v1/tasks/{task_id}/status", json={"attempt": 1, "status": "succeeded"}
            )
            assert again.json() == {"applied": False}
            assert queue.get(task_id).result == {"ok": True}
            # bad bodies name the field
            bad = agent.post(
                f"/agent/v1/tasks/{task_id}/status", json={"attempt": 0, "status": "nope"}
            )
            fields = {tuple(e["loc"]) for e in _problem(bad, 422)["errors"]}  # type: ignore[attr-defined]
            assert fields == {("body", "attempt"), ("body", "status")}
    finally:
        queue.close()
        engine.dispose()


def test_configs_are_served_to_their_host_only(api: Api) -> None:
    host_id, token = api.enrol("web-1")
    _, other_token = api.enrol("web-2")
    engine = make_engine(api.database_url)
    content = "global:\n  scrape_interval: 15s\n"
    import hashlib

    sha = hashlib.sha256(content.encode()).hexdigest()
    store = Store(engine)
    with store.session() as session:
        experiment = ExperimentRow(
            id=uuid.uuid4(),
            name="x",
            description="",
            state="deploying",
            collector="prometheus-agent",
            sources=[],
            sink={},
            warmup_seconds=1,
            duration_seconds=1,
            critical_selectors=[],
            gates=[],
            version=1,
            created_by="t",
        )
        session.add(experiment)
        session.add(
            CollectorConfigRow(
                sha256=sha, collector="prometheus-agent", content=content, created_at=utcnow()
            )
        )
        session.flush()
        session.add(
            ActivePipelineRow(
                host_id=host_id,
                experiment_id=experiment.id,
                variant="baseline",
                collector="prometheus-agent",
                config_sha256=sha,
                ports={"http": 1},
                status="starting",
            )
        )
    engine.dispose()
    with api.client(token) as agent, api.client(other_token) as other:
        served = agent.get(f"/agent/v1/configs/{sha}")
        assert served.status_code == 200
        assert served.text == content
        assert served.headers["etag"] == f'"{sha}"'
        _problem(other.get(f"/agent/v1/configs/{sha}"), 404)


def test_metrics_batches_are_bounded(api: Api) -> None:
    _, token = api.enrol("web-1")
    sample = {
        "metric_name": "phoenix_agent_rss_bytes",
        "value": 1.5e7,
        "timestamp": "2026-11-27T08:00:00Z",
    }
    with api.client(token) as agent:
        assert agent.post("/agent/v1/metrics", json={"samples": [sample] * 3}).json() == {
            "stored": 3
        }
        _problem(agent.post("/agent/v1/metrics", json={"samples": [sample] * 1001}), 422)


def _until_listening(database_url: str) -> None:
    """Until the API process's task-notification listener is connected (it starts with the
    API, which does not wait for it longer than 10 s)."""
    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    deadline = time.monotonic() + 30
    with psycopg.connect(conninfo, autocommit=True) as connection:
        while time.monotonic() < deadline:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN phoenix_tasks%'"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the API never started listening")


def _until_polls_held(url: str, count: int) -> None:
    """Until the API reports ``count`` long-polls held (they found no work and wait to be
    woken), as ``/metrics`` counts them."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = httpx.get(f"{url}/metrics").text
        match = re.search(r"^phoenix_long_polls_waiting (\S+)$", text, re.MULTILINE)
        if match and float(match.group(1)) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"the API never held {count} long-poll(s)")
