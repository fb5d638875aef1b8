"""Hand-written SQL files with one named, commented statement per operation.

A block starts with ``-- name: <name>``; the comment lines that follow explain it. Loaded once
per file and looked up by name (the task queue's ``queries.sql``, the store's ``hot.sql``).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

__all__ = ["named_sql"]


@cache
def _load(package: str, filename: str) -> dict[str, str]:
    text = (resources.files(package) / filename).read_text()
    found = {}
    for block in re.split(r"^-- name: ", text, flags=re.MULTILINE)[1:]:
        name, _, body = block.partition("\n")
        found[name.strip()] = body.strip().rstrip(";")
    return found


def named_sql(package: str, filename: str, name: str) -> str:
    """The statement called ``name`` in ``filename`` of ``package``."""
    return _load(package, filename)[name]
