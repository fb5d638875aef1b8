"""Every hand-written SQL statement, one named and commented block per operation.

- ``queue.sql``: the task queue on PostgreSQL (``phoenix_core.queue.postgres``).
- ``fast_path.sql``: the API's hottest requests on PostgreSQL (``phoenix_core.fast_path``).

A block starts with ``-- name: <name>``; the comment lines that follow explain it. A statement
may embed another's text as ``{{file.sql:name}}`` (the fast path's poll is the queue's claim
and cancellations in one round trip). Parameters are psycopg's ``%(name)s``; no value is ever
formatted into the text. Beneath both ``store`` and ``queue``: this package imports neither.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

__all__ = ["statement"]

_EMBED = re.compile(r"\{\{(\w+\.sql):(\w+)\}\}")


@cache
def _load(filename: str) -> dict[str, str]:
    text = (resources.files(__package__) / filename).read_text()
    found = {}
    for block in re.split(r"^-- name: ", text, flags=re.MULTILINE)[1:]:
        name, _, body = block.partition("\n")
        found[name.strip()] = body.strip().rstrip(";")
    return found


@cache
def statement(filename: str, name: str) -> str:
    """The statement called ``name`` in ``filename``, with the statements it embeds filled in."""
    return _EMBED.sub(lambda m: statement(m[1], m[2]), _load(filename)[name])
