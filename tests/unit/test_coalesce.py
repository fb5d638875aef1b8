"""CoalescedReads: identical reads share a statement, never one that began before them."""

from __future__ import annotations

import asyncio

import pytest

from phoenix_core.store.coalesce import CoalescedReads

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Table:
    """A value behind a read that takes as long as the test says; counts the reads."""

    def __init__(self) -> None:
        self.value = 0
        self.reads: list[str] = []
        self.gate: asyncio.Event | None = None

    async def read(self, key: str) -> tuple[str, int]:
        self.reads.append(key)
        seen = self.value  # the snapshot is taken as the statement starts
        if self.gate is not None:
            await self.gate.wait()
        return key, seen


async def _started(reads: CoalescedReads[str, tuple[str, int]], key: str) -> asyncio.Task:
    task = asyncio.create_task(reads(key))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return task


async def test_callers_that_arrive_during_a_read_share_the_next_one() -> None:
    table = Table()
    table.gate = asyncio.Event()
    reads = CoalescedReads(table.read)
    first = await _started(reads, "page")
    waiting = [await _started(reads, "page") for _ in range(5)]
    assert table.reads == ["page"]  # the five wait for the first to end
    table.gate.set()
    assert await first == ("page", 0)
    assert [await task for task in waiting] == [("page", 0)] * 5
    assert table.reads == ["page", "page"]  # six callers, two reads
    assert reads.in_flight() == 0


async def test_no_caller_is_answered_from_a_read_that_began_before_it() -> None:
    table = Table()
    table.gate = asyncio.Event()
    reads = CoalescedReads(table.read)
    before = await _started(reads, "page")  # reads value 0
    table.value = 1  # a write that ends before the next caller asks
    after = await _started(reads, "page")
    table.gate.set()
    assert await before == ("page", 0)
    assert await after == ("page", 1)  # not the read in flight when it came


async def test_different_keys_do_not_wait_for_each_other() -> None:
    table = Table()
    table.gate = asyncio.Event()
    reads = CoalescedReads(table.read)
    tasks = [await _started(reads, key) for key in ("a", "b")]
    assert table.reads == ["a", "b"]
    table.gate.set()
    assert [await task for task in tasks] == [("a", 0), ("b", 0)]


async def test_a_caller_that_gives_up_does_not_cancel_the_read_for_the_others() -> None:
    table = Table()
    table.gate = asyncio.Event()
    reads = CoalescedReads(table.read)
    first = await _started(reads, "page")
    quitter, stayer = await _started(reads, "page"), await _started(reads, "page")
    quitter.cancel()
    first.cancel()
    table.gate.set()
    assert await stayer == ("page", 0)
    with pytest.raises(asyncio.CancelledError):
        await quitter
    await asyncio.sleep(0)
    assert reads.in_flight() == 0


async def test_an_error_reaches_every_caller_of_that_read_and_not_the_next() -> None:
    calls = 0
    gate = asyncio.Event()

    async def read(key: str) -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        if calls <= 2:
            raise RuntimeError("the database went away")
        return calls

    reads: CoalescedReads[str, int] = CoalescedReads(read)
    first = asyncio.create_task(reads("page"))
    await asyncio.sleep(0)
    shared = [asyncio.create_task(reads("page")) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    outcomes = await asyncio.gather(first, *shared, return_exceptions=True)
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    assert calls == 2
    assert await reads("page") == 3
    assert reads.in_flight() == 0
