"""PromQL series selectors (``metric{label="v", other=~"re"}``), parsed without PromQL itself.

Light (stdlib only): the spec, the pipeline IR and the compilers all use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, cast

__all__ = ["Matcher", "Selector", "SelectorError", "parse_selector"]

MatchOp = Literal["=", "!=", "=~", "!~"]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OP = re.compile(r"=~|!~|!=|=")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "r": "\r"}


class SelectorError(ValueError):
    """The text is not a series selector."""


@dataclass(frozen=True)
class Matcher:
    """One label matcher; regex operators match the whole value (anchored), as in PromQL."""

    label: str
    op: MatchOp
    value: str

    def matches(self, value: str) -> bool:
        """Whether a label value (``""`` when the label is absent) satisfies this matcher."""
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        hit = re.fullmatch(self.value, value) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class Selector:
    """A parsed selector: every matcher must hold (the metric name is a ``__name__`` matcher)."""

    text: str
    matchers: tuple[Matcher, ...]

    @property
    def metric_name(self) -> str | None:
        """The literal metric name, when the selector fixes one."""
        for matcher in self.matchers:
            if matcher.label == "__name__" and matcher.op == "=":
                return matcher.value
        return None

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels.get(m.label, "")) for m in self.matchers)


def parse_selector(text: str) -> Selector:
    """Parse ``text``; raise ``SelectorError`` saying what is wrong and where."""
    pos = _skip_space(text, 0)
    matchers: list[Matcher] = []
    name = _NAME.match(text, pos)
    if name:
        matchers.append(Matcher("__name__", "=", name.group()))
        pos = _skip_space(text, name.end())
    if pos < len(text) and text[pos] == "{":
        pos = _skip_space(text, pos + 1)
        while pos < len(text) and text[pos] != "}":
            label = _LABEL.match(text, pos)
            if not label:
                raise SelectorError(f"expected a label name at position {pos} of {text!r}")
            pos = _skip_space(text, label.end())
            op = _OP.match(text, pos)
            if not op:
                raise SelectorError(f"expected =, !=, =~ or !~ at position {pos} of {text!r}")
            pos = _skip_space(text, op.end())
            value, pos = _string(text, pos)
            matcher = Matcher(label.group(), cast(MatchOp, op.group()), value)
            if matcher.op in ("=~", "!~"):
                _check_regex(matcher.value, text)
            matchers.append(matcher)
            pos = _skip_space(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos = _skip_space(text, pos + 1)
            elif pos < len(text) and text[pos] != "}":
                raise SelectorError(f"expected ',' or '}}' at position {pos} of {text!r}")
        if pos >= len(text):
            raise SelectorError(f"missing '}}' in {text!r}")
        pos = _skip_space(text, pos + 1)
    if pos != len(text):
        raise SelectorError(f"unexpected {text[pos:]!r} in {text!r}")
    if not matchers:
        raise SelectorError(f"{text!r} selects nothing: give a metric name or label matchers")
    if all(m.matches("") for m in matchers):
        raise SelectorError(f"{text!r} matches every series: add a matcher that excludes some")
    return Selector(text=text.strip(), matchers=tuple(matchers))


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _string(text: str, pos: int) -> tuple[str, int]:
    if pos >= len(text) or text[pos] not in "\"'":
        raise SelectorError(f"expected a quoted value at position {pos} of {text!r}")
    quote, pos = text[pos], pos + 1
    out: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == quote:
            return "".join(out), pos + 1
        if char == "\\" and pos + 1 < len(text):
            escaped = text[pos + 1]
            out.append(_ESCAPES.get(escaped, "\\" + escaped))
            pos += 2
            continue
        out.append(char)
        pos += 1
    raise SelectorError(f"unterminated string in {text!r}")


def _check_regex(pattern: str, text: str) -> None:
    from phoenix_core.pipelines.regex import RegexError, check_re2

    try:
        check_re2(pattern)
    except RegexError as exc:
        raise SelectorError(f"bad regex in {text!r}: {exc}") from None
