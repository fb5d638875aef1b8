"""10,000 tasks, 8 consumer processes claiming in batches, two of them killed mid-lease: every
task reaches a terminal state exactly once; none is lost, none is completed twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from phoenix_core.queue import NewTask, QueueSettings, open_queue
from phoenix_core.store.database import make_engine
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.session import Store
from phoenix_core.wire import TaskAction, TaskStatus, TaskType

TASKS = 10_000
BATCHES = [1, 10, 50, 100, 1, 10, 50, 100]  # eight consumers
VICTIMS = [1, 3]  # the consumers claiming 10 and 100 at a time get killed
TESTS = Path(__file__).resolve().parents[1]


def _consumer(url: str, host: str, batch: int, log: Path, victim: bool) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "support.queue_consumer", url, host, str(batch), str(log)]
    if victim:
        command += ["--hang-after", "3"]
    return subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(TESTS)})


def test_ten_thousand_tasks_exactly_once_despite_killed_consumers(
    postgres_url: str, tmp_path: Path
) -> None:
    engine = make_engine(postgres_url)
    with Store(engine).session() as session:
        host = HostRepository(session).register("busy", actor="test").id
    queue = open_queue(engine, QueueSettings(backoff_base_seconds=0.1, backoff_cap_seconds=0.5))
    tasks = [NewTask(host, TaskType.NOOP, TaskAction.RUN, {"note": str(i)}) for i in range(TASKS)]
    for start in range(0, TASKS, 1000):
        queue.enqueue(tasks[start : start + 1000])

    stop = threading.Event()

    def reap_until_stopped() -> None:
        while not stop.wait(0.2):
            queue.reap()

    logs = [tmp_path / f"consumer-{i}.log" for i in range(len(BATCHES))]
    consumers = [
        _consumer(postgres_url, str(host), batch, log, victim=index in VICTIMS)
        for index, (batch, log) in enumerate(zip(BATCHES, logs, strict=True))
    ]
    reaper = threading.Thread(target=reap_until_stopped)
    reaper.start()
    held: list[int] = []
    try:
        for victim in VICTIMS:
            holding = Path(f"{logs[victim]}.holding")
            deadline = time.monotonic() + 120
            while not holding.exists() or not holding.read_text():
                assert time.monotonic() < deadline, f"consumer {victim} never held a batch"
                time.sleep(0.01)
            held += [int(task_id) for task_id in holding.read_text().split()]
            consumers[victim].send_signal(signal.SIGKILL)  # while it holds leases
        for consumer in consumers:
            consumer.wait(timeout=240)
    finally:
        stop.set()
        reaper.join()
        for consumer in consumers:
            if consumer.poll() is None:
                consumer.kill()

    assert [c.returncode for c in consumers].count(-signal.SIGKILL) == len(VICTIMS)
    stats = queue.stats()
    assert stats.depth[TaskStatus.SUCCEEDED] == TASKS, stats.depth  # none lost
    assert sum(stats.depth.values()) == TASKS
    finished = [int(line) for log in logs for line in log.read_text().split()]
    assert len(finished) == len(set(finished)), "a success report was accepted twice"
    assert len(finished) == TASKS  # the victims died holding leases, never mid-report
    # the victims' leases expired and their tasks were delivered again, and finished once
    assert held
    assert all(queue.get(task_id).attempt >= 2 for task_id in held)
    assert set(held) <= set(finished)
    queue.close()
    engine.dispose()
