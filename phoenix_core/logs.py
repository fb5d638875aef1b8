"""Logging set-up for entry points (the library itself only calls ``logging.getLogger``).

At INFO a Phoenix process says what it does (a task claimed and finished, a collector started,
an experiment's state changed), not what its libraries do on every request: their narration
shows from DEBUG on (``PHOENIX_LOG_LEVEL=debug``, ``PHOENIX_AGENT_LOG_LEVEL=debug``); their
warnings and errors always.
"""

from __future__ import annotations

import logging

__all__ = ["NARRATORS", "configure_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

NARRATORS = (
    "httpx",  # a line per request: 'HTTP Request: POST … "HTTP/1.1 200 OK"'
    "httpcore",  # each connection and stream event (at DEBUG)
    "urllib3",  # each connection and request (at DEBUG)
    "uvicorn.access",  # a line per request (switched off in the API, quiet anywhere else)
    "uvicorn.error",  # start-up and shutdown steps, a line per WebSocket: Phoenix says its own
    "websockets",  # "connection open", "connection closed" (clients; the server's are uvicorn's)
    "alembic",  # every migration step: Phoenix logs the migration itself
)
"""Libraries that narrate their routine work at INFO: below DEBUG, only their warnings show.
(psycopg keeps itself at WARNING, its pool's per-connection lines with it.)"""


def configure_logging(level: str = "INFO") -> None:
    """Send log records to stderr at ``level``; called once by each entry point."""
    logging.basicConfig(level=level.upper(), format=_FORMAT, force=True)
    root = logging.root.level
    quiet = logging.NOTSET if root <= logging.DEBUG else max(logging.WARNING, root)
    for name in NARRATORS:
        logging.getLogger(name).setLevel(quiet)
