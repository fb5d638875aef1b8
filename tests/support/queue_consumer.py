"""A queue consumer process for the exactly-once test: claim, work, report, log what it finished.

    python -m support.queue_consumer DATABASE_URL HOST_ID BATCH LOG_FILE [--hang-after N]

It appends the id of every task whose ``succeeded`` report the queue accepted to LOG_FILE (one
line each, flushed), and exits once the queue holds nothing unfinished. With ``--hang-after N``
it claims one more batch after N batches, writes ``LOG_FILE.holding`` and hangs holding those
leases, so that the test can kill it mid-lease.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

from phoenix_core.queue import Report, open_queue
from phoenix_core.store.database import make_engine
from phoenix_core.wire import TaskStatus
from support.waiting import wait_for_tasks


def main() -> None:
    url, host, batch, log_path = sys.argv[1], uuid.UUID(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    hang_after = int(sys.argv[6]) if len(sys.argv) > 5 and sys.argv[5] == "--hang-after" else None
    queue = open_queue(make_engine(url))
    batches = 0
    with open(log_path, "a", buffering=1) as log:
        while True:
            tasks = queue.claim(host, limit=batch, lease_seconds=2)
            batches += 1
            if tasks and hang_after is not None and batches > hang_after:
                Path(f"{log_path}.holding").write_text(" ".join(str(t.id) for t in tasks))
                time.sleep(3600)
            if not tasks:
                depth = queue.stats().depth
                if not (depth[TaskStatus.PENDING] or depth[TaskStatus.CLAIMED]):
                    return
                wait_for_tasks(queue, host, timeout=0.5)
                continue
            time.sleep(0.005)
            reports = [Report(t.id, t.attempt, TaskStatus.SUCCEEDED) for t in tasks]
            refused = {task_id for task_id, _ in queue.report(host, reports).refused}
            done = [r for r in reports if r.task_id not in refused]
            log.write("".join(f"{r.task_id}\n" for r in done))


if __name__ == "__main__":
    main()
