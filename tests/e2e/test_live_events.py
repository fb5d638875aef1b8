"""Live events over the WebSocket of real API processes: what a client missed (from the audit
trail), then each new event as it happens — on SQLite (one process) and across two API
processes on PostgreSQL (written through one, heard through the other)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import phoenix_core
from support.processes import api_server, run_cli


def _next(ws: ClientConnection) -> dict[str, Any]:
    return dict(json.loads(ws.recv(timeout=30)))


@pytest.fixture(params=["sqlite", "postgresql"])
def apis(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[list[str], dict[str, str]]]:
    if request.param == "sqlite":
        env, count = {"PHOENIX_DATA_DIR": str(tmp_path)}, 1
    else:
        env, count = {"PHOENIX_DATABASE_URL": str(request.getfixturevalue("postgres_url"))}, 2
    tokens = {
        "viewer": run_cli(
            "phoenix", ["token", "create", "vera", "--role", "viewer"], env
        ).stdout.strip(),
        "enrol": run_cli("phoenix", ["enrolment-token", "create", "rack"], env).stdout.strip(),
    }
    with ExitStack() as stack:
        urls = [stack.enter_context(api_server(env))[0] for _ in range(count)]
        yield urls, tokens


def test_missed_events_then_live_ones(apis: tuple[list[str], dict[str, str]]) -> None:
    urls, tokens = apis
    writer, reader = urls[0], urls[-1]
    ws_url = reader.replace("http://", "ws://") + "/api/v1/ws"
    auth = {"Authorization": f"Bearer {tokens['viewer']}"}
    with connect(ws_url, additional_headers=auth) as ws:
        ws.send(json.dumps({"type": "subscribe", "topic": "fleet", "after": 0}))
        assert _next(ws) == {"type": "subscribed", "topic": "fleet", "data": {"after": 0}}
        missed = [_next(ws), _next(ws)]  # the two tokens created before we connected
        assert [(m["type"], m["data"]["data"]["name"]) for m in missed] == [
            ("token_created", "vera"),
            ("token_created", "rack"),
        ]
        with httpx.Client(
            base_url=writer, headers={"Authorization": f"Bearer {tokens['enrol']}"}
        ) as http:
            body = {"hostname": "web-1", "agent_version": phoenix_core.__version__}
            host_id = http.post("/agent/v1/register", json=body).json()["host_id"]
        live = [_next(ws), _next(ws)]
        assert [m["type"] for m in live] == ["host_registered", "token_created"]
        assert live[0]["data"]["host_id"] == host_id
        assert live[0]["topic"] == "fleet"
        last = live[-1]["data"]["id"]
    # a reconnecting client asks for what came after the last event it saw: nothing old again
    with connect(ws_url, additional_headers=auth) as ws:
        ws.send(json.dumps({"type": "subscribe", "topic": f"host:{host_id}", "after": last}))
        assert _next(ws)["type"] == "subscribed"
        ws.send(json.dumps({"type": "subscribe", "topic": "nonsense"}))
        assert _next(ws)["type"] == "error"


def test_the_websocket_needs_a_token(apis: tuple[list[str], dict[str, str]]) -> None:
    urls, tokens = apis
    ws_url = urls[0].replace("http://", "ws://") + "/api/v1/ws"
    with connect(ws_url) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    with (
        connect(f"{ws_url}?token={tokens['enrol']}") as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)  # a real token, but not a user's
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    with connect(f"{ws_url}?token={tokens['viewer']}") as ws:
        ws.send(json.dumps({"type": "subscribe", "topic": "fleet", "after": 10_000}))
        assert _next(ws)["type"] == "subscribed"
