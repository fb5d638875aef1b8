"""JSON for the SQL statements' documents: orjson's speed (``bench/README.md``) with the
standard library's exactness.

A batch of tasks or heartbeats is one JSON document each way. orjson differs from ``json`` in
one way that matters here: integers beyond 64 bits. Encoding them raises (so they go
through ``json``), and decoding turns them into floats *silently*, so any document with a run of
19 or more digits (int64's widest values have 19) is decoded by ``json`` instead. Digits inside
strings or long decimals take that slower path too, harmlessly.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["dumps", "loads"]

_LONG_NUMBER = re.compile(rb"\d{19}")


def dumps(value: Any) -> str:
    """``value`` as JSON text (floats that are not numbers become ``null``)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(value)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """The value of a JSON document; integers of any size stay exact integers."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if _LONG_NUMBER.search(raw):
        return json.loads(raw)
    return orjson.loads(raw)
