"""CoalescedReads: identical reads share a statement, never one that began before them."""

from __future__ import annotations

import asyncio

import pytest

from phoenix_core.fast_path.coalesce import BatchedWrites, CoalescedReads

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


async def _started(
    reads: CoalescedReads[str, tuple[str, int]], key: str
) -> asyncio.Task[tuple[str, int]]:
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


class Log:
    """A batch write that records each batch and can be held (a gate not set); fails on items
    it is told to."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.bad: set[str] = set()
        self.down = False

    async def write(self, items: list[str]) -> list[str]:
        self.batches.append(items)
        await self.gate.wait()
        if self.down:
            raise ConnectionError("the database went away")
        if self.bad & set(items):
            raise ValueError(f"bad item in {items}")
        return [f"wrote {item}" for item in items]


def _writes(log: Log) -> BatchedWrites[str, str, str]:
    return BatchedWrites(log.write, split=lambda exc: isinstance(exc, ValueError), max_size=4)


async def _behind_a_held_batch(
    log: Log, writes: BatchedWrites[str, str, str], items: list[tuple[str, str]]
) -> tuple[asyncio.Task[str], list[asyncio.Task[str]]]:
    """A batch ("x0") held in flight by ``log``'s gate, then ``items`` (key, item) sent."""
    log.gate = asyncio.Event()
    held = asyncio.create_task(writes("x", "x0"))
    await asyncio.sleep(0.01)
    tasks = [asyncio.create_task(writes(key, item)) for key, item in items]
    await asyncio.sleep(0.01)
    return held, tasks


async def test_a_write_alone_goes_at_once_and_those_that_arrive_meanwhile_go_together() -> None:
    log = Log()
    writes = _writes(log)
    assert await writes("a", "a1") == "wrote a1"  # alone: its own batch, no waiting
    log.gate = asyncio.Event()
    first = asyncio.create_task(writes("a", "a2"))
    await asyncio.sleep(0.01)
    later = [asyncio.create_task(writes(key, f"{key}1")) for key in "bcdefg"]
    await asyncio.sleep(0.01)
    assert log.batches == [["a1"], ["a2"]]  # the six wait for the batch being written
    log.gate.set()
    assert await first == "wrote a2"
    assert await asyncio.gather(*later) == [f"wrote {key}1" for key in "bcdefg"]
    assert log.batches[2:] == [["b1", "c1", "d1", "e1"], ["f1", "g1"]]  # at most max_size
    assert writes.waiting() == 0


async def test_two_writes_of_one_key_never_share_a_batch_and_stay_in_order() -> None:
    log = Log()
    writes = _writes(log)
    held, tasks = await _behind_a_held_batch(
        log, writes, [("a", "a1"), ("a", "a2"), ("b", "b1"), ("a", "a3")]
    )
    log.gate.set()
    await asyncio.gather(held, *tasks)
    assert log.batches == [["x0"], ["a1", "b1"], ["a2"], ["a3"]]


async def test_an_item_that_fails_its_batch_fails_only_its_own_caller() -> None:
    log = Log()
    log.bad = {"c1"}
    writes = _writes(log)
    held, tasks = await _behind_a_held_batch(log, writes, [(k, f"{k}1") for k in "bcd"])
    log.gate.set()
    outcomes = await asyncio.gather(held, *tasks, return_exceptions=True)
    assert outcomes[:2] == ["wrote x0", "wrote b1"] and outcomes[3] == "wrote d1"
    assert isinstance(outcomes[2], ValueError)
    assert log.batches == [["x0"], ["b1", "c1", "d1"], ["b1"], ["c1"], ["d1"]]


async def test_when_the_database_is_down_a_batch_fails_whole_and_is_not_retried() -> None:
    log = Log()
    writes = _writes(log)
    held, tasks = await _behind_a_held_batch(log, writes, [(k, f"{k}1") for k in "bcd"])
    log.down = True
    log.gate.set()
    outcomes = await asyncio.gather(held, *tasks, return_exceptions=True)
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)
    assert log.batches == [["x0"], ["b1", "c1", "d1"]]


async def test_an_item_whose_caller_gave_up_before_its_batch_is_not_written() -> None:
    log = Log()
    writes = _writes(log)
    held, (quitter, stayer) = await _behind_a_held_batch(log, writes, [("q", "q1"), ("s", "s1")])
    quitter.cancel()
    log.gate.set()
    assert await stayer == "wrote s1"
    await held
    assert log.batches == [["x0"], ["s1"]]


async def test_two_batches_may_be_written_at_once_and_a_key_s_items_stay_in_order() -> None:
    log = Log()
    log.gate = asyncio.Event()
    writes: BatchedWrites[str, str, str] = BatchedWrites(
        log.write, split=lambda exc: False, in_flight=2, max_size=4
    )
    first = asyncio.create_task(writes("a", "a1"))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(writes("b", "b1"))  # a second writer: not waiting for a1
    await asyncio.sleep(0.01)
    assert log.batches == [["a1"], ["b1"]]
    later = [asyncio.create_task(writes(key, item)) for key, item in
             [("a", "a2"), ("c", "c1"), ("b", "b2")]]  # fmt: skip
    await asyncio.sleep(0.01)
    assert log.batches == [["a1"], ["b1"]]  # both writers busy: the three wait
    log.gate.set()
    await asyncio.gather(first, second, *later)
    assert sorted(item for batch in log.batches[2:] for item in batch) == ["a2", "b2", "c1"]
    assert writes.waiting() == 0
    assert await writes("d", "d1") == "wrote d1"  # both writers gone: a write starts one


async def test_a_key_being_written_holds_its_next_item_back_but_not_the_others() -> None:
    log = Log()
    log.gate = asyncio.Event()
    writes: BatchedWrites[str, str, str] = BatchedWrites(
        log.write, split=lambda exc: False, in_flight=2
    )
    first = asyncio.create_task(writes("a", "a1"))
    await asyncio.sleep(0.01)
    again, other = asyncio.create_task(writes("a", "a2")), asyncio.create_task(writes("b", "b1"))
    await asyncio.sleep(0.01)
    assert log.batches == [["a1"], ["b1"]]  # a2 waits for a1, b1 does not
    log.gate.set()
    await asyncio.gather(first, again, other)
    assert log.batches == [["a1"], ["b1"], ["a2"]]
