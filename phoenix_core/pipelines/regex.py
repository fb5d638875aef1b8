"""Regular expressions as Prometheus and the OpenTelemetry Collector read them (Go's RE2).

Phoenix evaluates regexes in Python (the forecast) and in Go (the collectors), so it accepts only
the common ground: what Python compiles and RE2 also supports (no look-around, no
back-references, no possessive or atomic groups). Matching is anchored, as in Prometheus.
"""

from __future__ import annotations

import re

__all__ = ["RegexError", "check_re2", "range_regex"]

_UNSUPPORTED = [
    (re.compile(r"\(\?<?[=!]"), "look-around assertions"),
    (re.compile(r"\\[1-9]|\(\?P="), "back-references"),
    (re.compile(r"\(\?>"), "atomic groups"),
    (re.compile(r"[*+?}]\+"), "possessive quantifiers"),
    (re.compile(r"\\[ZAG]"), r"\Z, \A and \G"),
    (re.compile(r"\(\?\("), "conditional groups"),
]


class RegexError(ValueError):
    """A regex Phoenix cannot use."""


def check_re2(pattern: str) -> str:
    """Return ``pattern`` if both Python and RE2 accept it with the same meaning, else raise."""
    stripped = re.sub(r"\\\\", "", pattern)  # escaped backslashes cannot start a construct
    for construct, name in _UNSUPPORTED:
        if construct.search(stripped):
            raise RegexError(f"{name} are not supported by Prometheus (RE2): {pattern!r}")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise RegexError(f"invalid regex {pattern!r}: {exc}") from None
    return pattern


def range_regex(upper: int) -> str:
    """A regex matching the decimal integers ``0 … upper-1`` exactly (``upper`` ≥ 1)."""
    if upper < 1:
        raise ValueError("upper must be at least 1")
    parts: list[str] = []
    top = upper - 1
    digits = 1
    while 10 ** (digits - 1) <= top or digits == 1:
        low = 0 if digits == 1 else 10 ** (digits - 1)
        last = min(10**digits - 1, top)
        while low <= last:
            # the largest block [low, low + 10^p - 1] aligned on 10^p that stays within last
            power = 1
            while low % (power * 10) == 0 and low + power * 10 - 1 <= last:
                power *= 10
            parts.append(_block(low, low + power - 1))
            low += power
        digits += 1
    return "|".join(parts)


def _block(low: int, high: int) -> str:
    """Regex for an aligned block such as 120–129 (``12[0-9]``) or 0–9 (``[0-9]``)."""
    low_text, high_text = str(low), str(high)
    out = []
    for a, b in zip(low_text, high_text, strict=True):
        out.append(a if a == b else f"[{a}-{b}]")
    return "".join(out)
