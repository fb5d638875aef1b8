"""The hot paths' JSON: exact like the standard library, including what orjson gets wrong."""

from __future__ import annotations

import json
import math

import pytest

from phoenix_core.sql import fast_json

DOCUMENTS = [
    {"a": [1, 2.5, None, True, False], "b": {"c": "été ✓", "d": 'q"\\'}},
    {"big": 2**70 + 1, "small": -(2**65) - 3, "edge": 2**63 - 1, "over": 2**64 + 1},
    [12345678901234567890123, "digits 12345678901234567890 in a string", 0.1],
    {},
    [],
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_round_trip_is_exact(document: object) -> None:
    text = fast_json.dumps(document)
    assert json.loads(text) == document
    for data in (text, text.encode(), memoryview(text.encode())):
        decoded = fast_json.loads(data)
        assert decoded == document
        assert json.dumps(decoded) == json.dumps(document)  # ints stay ints, not equal floats


def test_large_integers_written_by_others_stay_integers() -> None:
    assert fast_json.loads(b'{"n": 1180591620717411303425}') == {"n": 2**70 + 1}
    assert isinstance(fast_json.loads(b"[9223372036854775808]")[0], int)


def test_numbers_that_are_not_numbers_become_null() -> None:
    assert fast_json.loads(fast_json.dumps({"x": math.nan, "y": math.inf})) == {
        "x": None,
        "y": None,
    }
