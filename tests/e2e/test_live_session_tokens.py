"""A WebSocket session ends when its token does: a real ``phoenix api serve`` (SQLite, and
PostgreSQL with its token cache) closes the socket with 4401 once the token is revoked (by
the CLI, another process) or expires, within the token cache's lifetime, and sends no event
that came after. Two sockets each: a busy one (the fleet's heartbeats, several a second,
each checked before it is sent) and an idle one (a topic with no events: only the periodic
re-check can close it)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import phoenix_core
from support.processes import api_server, run_cli

CACHE_SECONDS = 5
"""``PHOENIX_TOKEN_CACHE_SECONDS``: the bound within which a session must end."""
MARGIN_SECONDS = 20
"""Beyond the bound, for a loaded machine: without the check the socket never closes."""


def _cli(env: dict[str, str], *args: str) -> str:
    result = run_cli("phoenix", list(args), env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    found = {"PHOENIX_TOKEN_CACHE_SECONDS": str(CACHE_SECONDS)}
    if request.param == "sqlite":
        return found | {"PHOENIX_DATA_DIR": str(tmp_path)}
    return found | {"PHOENIX_DATABASE_URL": str(request.getfixturevalue("postgres_url"))}


@contextmanager
def _heartbeats(url: str, enrolment: str) -> Iterator[None]:
    """A host beating several times a second (each beat a live notice on ``fleet``)."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {enrolment}"}) as c:
        body = {"hostname": "web-1", "agent_version": phoenix_core.__version__}
        registered = c.post("/agent/v1/register", json=body)
    assert registered.status_code == 201, registered.text
    stop = threading.Event()
    beat = {"agent_version": phoenix_core.__version__, "status": "healthy"}
    auth = {"Authorization": f"Bearer {registered.json()['token']}"}

    def run() -> None:
        with httpx.Client(base_url=url, headers=auth, timeout=30) as host:
            while not stop.wait(0.1):
                host.post("/agent/v1/heartbeat", json=beat)

    beating = threading.Thread(target=run)
    beating.start()
    try:
        yield
    finally:
        stop.set()
        beating.join()


def _subscribed(stack: ExitStack, url: str, token: str, topic: str) -> ClientConnection:
    ws = stack.enter_context(
        connect(
            url.replace("http://", "ws://") + "/api/v1/ws",
            additional_headers={"Authorization": f"Bearer {token}"},
        )
    )
    ws.send(json.dumps({"type": "subscribe", "topic": topic, "after": 10**9}))  # no history
    assert json.loads(ws.recv(timeout=30))["type"] == "subscribed"
    return ws


def _until_closed(ws: ClientConnection, deadline: float) -> tuple[int, list[dict[str, Any]]]:
    """The close code, and every message received before it; fails past ``deadline``."""
    received: list[dict[str, Any]] = []
    while True:
        try:
            received.append(json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0))))
        except TimeoutError:
            raise AssertionError("the session is still open past its token") from None
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return closed.rcvd.code, received


def _sent_at(message: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(message["timestamp"])


def _expires_at(env: dict[str, str], name: str) -> datetime:
    listed = json.loads(_cli(env, "token", "list", "--output", "json"))
    (token,) = (t for t in listed if t["name"] == name)
    return datetime.fromisoformat(token["expires_at"])


def test_a_revoked_token_ends_its_sessions(env: dict[str, str]) -> None:
    viewer = _cli(env, "token", "create", "vera", "--role", "viewer")
    enrolment = _cli(env, "enrolment-token", "create", "rack")
    with ExitStack() as stack:
        url, _ = stack.enter_context(api_server(env))
        stack.enter_context(_heartbeats(url, enrolment))
        busy = _subscribed(stack, url, viewer, "fleet")
        idle = _subscribed(stack, url, viewer, f"experiment:{uuid.uuid4()}")
        assert json.loads(busy.recv(timeout=30))["type"] == "heartbeat"  # events do flow
        _cli(env, "token", "revoke", "vera")
        revoked, deadline = datetime.now(UTC), time.monotonic() + CACHE_SECONDS + MARGIN_SECONDS
        for ws in (busy, idle):
            code, received = _until_closed(ws, deadline)
            assert code == 4401
            assert ws.close_reason == "The token 'vera' was revoked."
            assert all(_sent_at(message) < revoked for message in received), received


def test_an_expired_token_ends_its_sessions(env: dict[str, str]) -> None:
    enrolment = _cli(env, "enrolment-token", "create", "rack")
    with ExitStack() as stack:
        url, _ = stack.enter_context(api_server(env))
        stack.enter_context(_heartbeats(url, enrolment))
        viewer = _cli(env, "token", "create", "vera", "--role", "viewer", "--expires-in", "15s")
        expires = _expires_at(env, "vera")
        busy = _subscribed(stack, url, viewer, "fleet")
        idle = _subscribed(stack, url, viewer, f"experiment:{uuid.uuid4()}")
        assert json.loads(busy.recv(timeout=30))["type"] == "heartbeat"  # events do flow
        left = (expires - datetime.now(UTC)).total_seconds()
        deadline = time.monotonic() + left + CACHE_SECONDS + MARGIN_SECONDS
        for ws in (busy, idle):
            code, received = _until_closed(ws, deadline)
            assert datetime.now(UTC) >= expires  # not closed before its time
            assert code == 4401
            assert ws.close_reason == "The token 'vera' expired."
            assert all(_sent_at(message) < expires for message in received), received
