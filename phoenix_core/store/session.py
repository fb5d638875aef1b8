"""The store: an engine plus a session factory; one transaction per ``with store.session()``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from phoenix_core.store.database import translate_error
from phoenix_core.store.events import COMMITTED_EVENTS, EventRecord, LiveNotice, log_committed

__all__ = ["Store"]


class Store:
    """Owns the engine's session factory; repositories work inside its sessions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.event_subscribers: list[Callable[[list[EventRecord | LiveNotice]], None]] = []
        """Called with the events and live notices of each transaction of this process once
        it committed (on PostgreSQL, every process also hears them through NOTIFY)."""

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any error.

        Driver errors leave as ``DatabaseUnavailable`` (connection lost) or ``DatabaseError``.
        """
        session = self._sessions()
        try:
            yield session
            session.commit()
            events = session.info.pop(COMMITTED_EVENTS, None)
            if events:
                log_committed(events)
                for subscriber in list(self.event_subscribers):
                    subscriber(events)
        except DBAPIError as exc:
            session.rollback()
            raise translate_error(self.engine, exc, "A database operation") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
