"""A config download around a fake transport (httpx ``MockTransport``): it retries what is
unavailable (connection errors, 502/503/504), fails at once on a refusal naming the status and
the config, never retries past its task's lease, and stops when the task is cancelled."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from phoenix_agent.control_plane import ControlPlane, Fatal
from phoenix_agent.failures import TaskCancelled, TaskFailed
from phoenix_agent.held import TaskControl
from phoenix_agent.retries import fetch_config

SHA = "ab" * 32
URL = f"/agent/v1/configs/{SHA}"
Answer = Callable[[httpx.Request], httpx.Response]


def _plane(answers: Iterator[Answer]) -> tuple[ControlPlane, list[str]]:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return next(answers)(request)

    plane = ControlPlane("http://phoenix", "phx_h_x", transport=httpx.MockTransport(handle))
    return plane, seen


def _status(code: int) -> Answer:
    return lambda request: httpx.Response(code, json={"detail": f"status {code}"})


def _reset(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


def _config(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="scrape_configs: []\n")


def _fetch(plane: ControlPlane, control: TaskControl | None = None) -> str:
    return fetch_config(plane, URL, control or TaskControl(), max_backoff_seconds=0.01)


def test_unavailable_is_retried_until_the_config_arrives() -> None:
    plane, seen = _plane(iter([_reset, _status(503), _status(502), _status(504), _config]))
    notes: list[str] = []
    text = fetch_config(plane, URL, TaskControl(), max_backoff_seconds=0.01, note=notes.append)
    assert text == "scrape_configs: []\n"
    assert seen == [URL] * 5
    assert len(notes) == 4 and "RemoteProtocolError" in notes[0] and "503" in notes[1]


@pytest.mark.parametrize("code", [403, 404])
def test_a_refusal_fails_at_once_naming_the_status_and_the_config(code: int) -> None:
    plane, seen = _plane(iter([_status(code), _config]))
    with pytest.raises(TaskFailed, match=rf"refused the config {URL} \({code}\): status {code}"):
        _fetch(plane)
    assert seen == [URL]


def test_a_revoked_token_still_stops_the_agent() -> None:
    plane, _ = _plane(iter([_status(401)]))
    with pytest.raises(Fatal):
        _fetch(plane)


def test_no_retry_goes_past_the_lease() -> None:
    plane, seen = _plane(iter([_status(503)] * 1000))
    gave_up = r"still unavailable .* lease runs out in 0 s \(gave up after 1 tries\)"
    with pytest.raises(TaskFailed, match=gave_up) as e:
        _fetch(plane, TaskControl(lease_seconds=0))
    assert "503" in str(e.value)
    assert seen == [URL]


def test_a_cancellation_stops_the_retries() -> None:
    control = TaskControl()
    plane, seen = _plane(iter([_status(503)] * 1000))
    threading.Timer(0.2, control.cancelled.set).start()
    with pytest.raises(TaskCancelled, match="while downloading"):
        fetch_config(plane, URL, control, max_backoff_seconds=60)
    assert 1 <= len(seen) < 1000
