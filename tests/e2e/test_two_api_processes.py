"""Two ``phoenix api serve`` processes on one PostgreSQL database, each with its controller
(one leads): an experiment created and started through one process deploys through the
other's agent API, and a WebSocket client of the second process sees it all — state changes
from the audit trail, task updates and heartbeats as live notices — whichever process the
operator, the agent and the controller happened to use."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

import phoenix_core
from support.control_plane import receiving_at
from support.processes import api_server, run_cli
from support.prometheus import PrometheusServer
from support.specs import NO_LOAD, spec_data


class Live:
    """A WebSocket client that keeps every message it receives, on a thread of its own.

    A wait ends as soon as its message has arrived, or as soon as the reader has stopped (the
    connection closed, or a message could not be read or parsed) with that cause, rather than
    after the whole timeout as "no such message"."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.stopped: BaseException | None = None  # why the reader ended, once it has
        self._arrived = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                message = json.loads(raw)
                with self._arrived:
                    self.messages.append(message)
                    self._arrived.notify_all()
            ws = self.ws
            stopped: BaseException = EOFError(
                f"the connection closed ({ws.close_code} {ws.close_reason!r})"
            )
        except BaseException as exc:  # whatever it is, the waiting test raises it
            stopped = exc
        with self._arrived:
            self.stopped = stopped
            self._arrived.notify_all()

    def wait_for(
        self, check: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        checked = 0
        with self._arrived:
            while True:
                for message in self.messages[checked:]:
                    if check(message):
                        return message
                checked = len(self.messages)
                seen = [m.get("type") for m in self.messages]
                if self.stopped is not None:
                    raise AssertionError(
                        f"the WebSocket reader stopped ({self.stopped!r}) after {seen}"
                    ) from self.stopped
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no such message within {timeout} s in {seen}")
                self._arrived.wait(left)


@pytest.fixture
def two_apis(
    postgres_url: str, receiver: PrometheusServer
) -> Iterator[tuple[list[str], dict[str, str]]]:
    env = {
        "PHOENIX_DATABASE_URL": postgres_url,
        "PHOENIX_CONTROLLER_INTERVAL_SECONDS": "0.2",
        **receiving_at(receiver),  # what a start checks
    }

    def token(*args: str) -> str:
        result = run_cli("phoenix", list(args), env)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    tokens = {
        "operator": token("token", "create", "olga", "--role", "operator"),
        "enrol": token("enrolment-token", "create", "rack"),
    }
    with ExitStack() as stack:
        yield [stack.enter_context(api_server(env))[0] for _ in range(2)], tokens


def _client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_agents_operators_and_watchers_on_different_processes(
    two_apis: tuple[list[str], dict[str, str]],
) -> None:
    (a, b), tokens = two_apis
    with _client(a, tokens["enrol"]) as enrolling:
        body = {"hostname": "web-1", "agent_version": phoenix_core.__version__}
        registered = enrolling.post("/agent/v1/register", json=body).json()
    host_id = registered["host_id"]
    beat = {"agent_version": phoenix_core.__version__, "status": "healthy"}
    ws_url = b.replace("http://", "ws://") + "/api/v1/ws"
    auth = {"Authorization": f"Bearer {tokens['operator']}"}
    with (
        _client(a, tokens["operator"]) as operator_a,
        _client(b, tokens["operator"]) as operator_b,
        _client(a, registered["token"]) as agent_a,
        _client(b, registered["token"]) as agent_b,
        connect(ws_url, additional_headers=auth) as ws,
    ):
        live = Live(ws)
        ws.send(json.dumps({"type": "subscribe", "topic": f"host:{host_id}"}))
        live.wait_for(lambda m: m["type"] == "subscribed")
        # a heartbeat through A reaches B's WebSocket client as a live notice
        assert agent_a.post("/agent/v1/heartbeat", json=beat).status_code == 200
        heard = live.wait_for(lambda m: m["type"] == "heartbeat")
        assert heard["topic"] == f"host:{host_id}"
        assert heard["data"]["data"]["status"] == "healthy"
        assert "id" not in heard["data"]  # not an audit event: never replayed
        # an experiment created through A, started through B, watched on B
        # (on otelcol both variants start at once: neither needs the baseline's values first)
        spec = spec_data(
            hosts=["web-1"],
            host_selector=None,
            collector="otelcol",
            **NO_LOAD,
            sink={"kind": "prometheus-remote-write"},  # the controller's remote_write_url
        )
        spec["variants"] = [
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {"name": "slim", "role": "candidate", "template": "drop-labels",
             "variables": {"labels": ["pid"]}},
        ]  # fmt: skip
        created = operator_a.post("/api/v1/experiments", json=spec)
        assert created.status_code == 201, created.text
        experiment_id = created.json()["id"]
        ws.send(json.dumps({"type": "subscribe", "topic": f"experiment:{experiment_id}"}))
        live.wait_for(lambda m: m == {"type": "subscribed", "topic": f"experiment:{experiment_id}",
                                      "data": {"after": 0}})  # fmt: skip
        assert operator_b.post(f"/api/v1/experiments/{experiment_id}/start").status_code == 202
        # the agent long-polls B and reports through A, for every start task it is given
        reported: set[int] = set()
        deadline = time.monotonic() + 60
        while len(reported) < 2:
            assert time.monotonic() < deadline, "the start tasks never came"
            assert agent_a.post("/agent/v1/heartbeat", json=beat).status_code == 200
            for task in agent_b.get("/agent/v1/tasks", params={"wait": 5}).json()["tasks"]:
                assert (task["type"], task["action"]) == ("collector", "start")
                assert task["experiment_id"] == experiment_id
                path = f"/agent/v1/tasks/{task['id']}/status"
                for status in ("running", "succeeded"):
                    answer = agent_a.post(path, json={"attempt": task["attempt"], "status": status})
                    assert answer.json() == {"applied": True}, answer.text
                reported.add(task["id"])
        update = live.wait_for(
            lambda m: (
                m["type"] == "task_updated"
                and m["topic"] == f"experiment:{experiment_id}"
                and m["data"]["data"]["status"] == "succeeded"
            )
        )
        assert update["data"]["data"]["task_id"] in reported
        warming = live.wait_for(
            lambda m: (
                m["type"] == "experiment_state_changed"
                and m["data"]["data"].get("to") == "warming_up"
            )
        )
        assert warming["topic"] == f"experiment:{experiment_id}"
        # both processes agree on the experiment's state and the host
        for operator in (operator_a, operator_b):
            experiment = operator.get(f"/api/v1/experiments/{experiment_id}").json()
            assert experiment["state"] in ("warming_up", "running")
        # stop through A; the stop tasks reach the agent polling B
        assert operator_a.post(f"/api/v1/experiments/{experiment_id}/stop").status_code == 202
        stops = agent_b.get("/agent/v1/tasks", params={"wait": 30}).json()["tasks"]
        assert {(t["type"], t["action"]) for t in stops} == {("collector", "stop")}
        trail = operator_b.get(f"/api/v1/experiments/{experiment_id}/events").json()["items"]
        states = [e["data"]["to"] for e in trail if e["type"] == "experiment_state_changed"]
        assert states[:4] == ["scheduled", "deploying", "warming_up", "stopping"]
