"""Exactly one controller acts per database: the holder of a PostgreSQL advisory lock.

The lock lives on a dedicated connection; if its process dies, PostgreSQL drops the connection
and the lock with it, and the next controller to try takes over. On SQLite (one process) the
controller is always the leader.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from phoenix_core.store.database import is_postgresql

__all__ = ["CONTROLLER_LOCK_KEY", "Leadership"]

log = logging.getLogger(__name__)

CONTROLLER_LOCK_KEY = 0x70686F656E6978 + 1  # next to the migration lock's key


class Leadership:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None

    @property
    def held(self) -> bool:
        return not is_postgresql(self.engine) or self._connection is not None

    def acquire(self) -> bool:
        """True while this process leads: keeps the lock if it has it, else tries to take it."""
        if not is_postgresql(self.engine):
            return True
        try:
            if self._connection is not None:
                self._connection.execute(text("SELECT 1"))  # still connected, still holding
                self._connection.commit()
                return True
            connection = self.engine.connect()
            taken = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": CONTROLLER_LOCK_KEY}
            ).scalar_one()
            connection.commit()
            if taken:
                self._connection = connection
                log.info("this process now leads the controller")
                return True
            connection.close()
            return False
        except DBAPIError as exc:
            log.warning("controller leadership lost: %s", exc.orig or exc)
            self._drop()
            return False

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": CONTROLLER_LOCK_KEY}
                )
                self._connection.commit()
            except DBAPIError:
                pass
            self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except DBAPIError:
                pass
            self._connection = None
