"""A failure said once: while the API is down the agent's loops fail every few seconds, and its
log says so once (WARNING), then once more when it works again (INFO: after how many failures,
over how long); the failures between are logged at DEBUG only."""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["Outage"]


class Outage:
    """The failures in a row of one thing the agent does (``what``: "heartbeat", "poll")."""

    def __init__(self, what: str, log: logging.Logger) -> None:
        self.what = what
        self._log = log
        self._lock = threading.Lock()
        self._failures = 0
        self._since = 0.0

    def failed(self, detail: object) -> None:
        with self._lock:
            self._failures += 1
            first = self._failures == 1
            if first:
                self._since = time.monotonic()
        if first:
            self._log.warning("%s failed: %s (further failures at DEBUG until it works again)",
                              self.what, detail)  # fmt: skip
        else:
            self._log.debug("%s failed again: %s", self.what, detail)

    def worked(self) -> bool:
        """Say it works again if it had failed; whether it had."""
        with self._lock:
            failures, self._failures = self._failures, 0
        if failures:
            self._log.info("%s works again, after %d failures over %.0f s", self.what, failures,
                           time.monotonic() - self._since)  # fmt: skip
        return bool(failures)
