"""The API's shutdown (what holds a connection is told, then waited for, within a bound) and
the log lines that say what Phoenix does: an audit event in words, a failure said once."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

import pytest

from phoenix_agent.outages import Outage
from phoenix_api.shutdown import Shutdown
from phoenix_core.store.events import EventRecord, LiveNotice, describe

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_shutdown_tells_what_is_held_and_waits_for_it_to_end() -> None:
    shutdown, told = Shutdown(), []
    shutdown.on_begin.append(lambda: told.append("controller"))

    async def long_poll() -> str:
        with shutdown.holding("long-poll"):
            await shutdown.wait()
            await asyncio.sleep(0.05)  # answering takes a moment
            return "answered"

    held = asyncio.create_task(long_poll())
    await asyncio.sleep(0)
    assert not shutdown.begun
    await shutdown.begin(timeout=5)
    assert shutdown.begun and told == ["controller"]
    assert held.done() and held.result() == "answered"  # begin returned once it ended


async def test_a_shutdown_waits_no_longer_than_its_bound(caplog: pytest.LogCaptureFixture) -> None:
    shutdown = Shutdown()
    stuck = asyncio.Event()

    async def hung() -> None:
        with shutdown.holding("live session"):
            await stuck.wait()

    task = asyncio.create_task(hung())
    await asyncio.sleep(0)
    await shutdown.begin(timeout=0.05)
    assert "1 live session still open after 0 s" in caplog.text
    stuck.set()
    await task


def test_an_audit_event_in_words() -> None:
    experiment = uuid.UUID(int=1)
    event = EventRecord(
        id=7, type="experiment_state_changed", actor="controller@vm:1", experiment_id=experiment,
        host_id=None, data={"from": "running", "to": "failed", "reason": "no hosts"},
        created_at=datetime.now(UTC),
    )  # fmt: skip
    assert describe(event) == (
        f"experiment_state_changed: experiment {experiment} running -> failed "
        "(reason=no hosts) by controller@vm:1"
    )
    notice = LiveNotice(type="task_updated", host_id=experiment, data={"task_id": 3, "error": None},
                        created_at=datetime.now(UTC))  # fmt: skip
    assert describe(notice) == f"task_updated: host {experiment} (task_id=3)"


def test_a_failure_is_said_once_until_it_works_again(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    outage = Outage("heartbeat", logging.getLogger("test"))
    outage.worked()  # nothing failed: nothing to say
    for _ in range(3):
        outage.failed("unreachable")
    outage.worked()
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert said == [
        ("WARNING", "heartbeat failed: unreachable (further failures at DEBUG until it works "
                    "again)"),
        ("DEBUG", "heartbeat failed again: unreachable"),
        ("DEBUG", "heartbeat failed again: unreachable"),
        ("INFO", "heartbeat works again, after 3 failures over 0 s"),
    ]  # fmt: skip
