"""Logging set-up for entry points (the library itself only calls ``logging.getLogger``)."""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Send log records to stderr at ``level``; called once by each entry point."""
    logging.basicConfig(level=level.upper(), format=_FORMAT, force=True)
    # Alembic narrates every migration step at INFO; Phoenix logs the migration itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.root.level))
