"""An agent backing off while the API was down tries again as soon as a heartbeat gets through
(the API is back), not after a backoff that grew toward ``max_backoff_seconds``: the agent's
heartbeat loop against a fake transport (httpx ``MockTransport``) whose API is down, then up."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from phoenix_agent.control_plane import ControlPlane
from phoenix_agent.runner import Agent
from phoenix_agent.settings import AgentSettings


def test_a_heartbeat_that_gets_through_again_ends_every_backoff(tmp_path: Path) -> None:
    up = threading.Event()

    def api(request: httpx.Request) -> httpx.Response:
        if not up.is_set():
            return httpx.Response(503, json={"detail": "restarting"})
        return httpx.Response(200, json={"leases_extended": 0})

    agent = Agent(AgentSettings(state_dir=tmp_path, hostname="h", heartbeat_seconds=0.1))
    agent._plane = ControlPlane("http://phoenix", "phx_h_x", transport=httpx.MockTransport(api))
    beating = threading.Thread(target=agent._heartbeat_loop, daemon=True)
    beating.start()
    woke = threading.Event()

    def backing_off() -> None:  # a poll's retry, after the API had been down a while
        agent._sleep(60)
        woke.set()

    threading.Thread(target=backing_off, daemon=True).start()
    try:
        assert not woke.wait(1.0), "the backoff ended while the API was still down"
        up.set()
        assert woke.wait(5.0), "the backoff went on after a heartbeat got through"
    finally:
        agent.draining.set()
        beating.join(5)
    assert not beating.is_alive(), "the heartbeat loop went on after the drain"
