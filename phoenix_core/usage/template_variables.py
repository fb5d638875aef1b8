"""Grafana template variables replaced in a query before it is parsed, as mimirtool does.

Grafana writes a variable as ``$name``, ``${name}``, ``${name:format}``, ``${name.field}``,
``[[name]]`` or ``[[name:format]]``. mimirtool (``pkg/mimirtool/analyze/grafana.go``) replaces
Grafana's built-in interval and range variables with fixed values and any variable left as a
range (``[$x]``, ``[$x:$y]``) with ``5m`` / ``5m:1m``; this module does the same, and also
replaces the dashboard's own variables:

- inside a quoted string (a matcher value, a ``label_replace`` argument): ``.*``, a value that
  matches (``job=~"$job"`` → ``job=~".*"``; the label ``job`` is still what the query uses);
- elsewhere (``topk($k, …)``, ``by ($group)``, a metric name): the variable's current value
  (its first, if several), else its first option; a variable with neither stays, and the parse
  error that follows names it.

Only names Grafana would replace are touched: built-ins and the dashboard's variables. Any other
``$name`` stays as written, so ``label_replace``'s ``"$1"`` is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial

__all__ = ["BUILTIN_VARIABLES", "MATCH_ANY", "substitute_variables"]

# mimirtool's values (its variableReplacer), plus the _ms forms Grafana also has.
BUILTIN_VARIABLES: Mapping[str, str] = {
    "__interval": "5m",
    "interval": "5m",
    "__interval_ms": "300000",
    "resolution": "5s",
    "__rate_interval": "15s",
    "rate_interval": "15s",
    "__rate_interval_ms": "15000",
    "__range": "1d",
    "__range_s": "30",
    "__range_ms": "30000",
    "latency_metrics": "0",  # mimirtool: switches dashboards between classic and native histograms
}
_RANGE_FALLBACK = "5m"
_STEP_FALLBACK = "1m"
MATCH_ANY = ".*"
"""What a dashboard variable becomes inside a quoted string."""

# Grafana's own variable syntax (public/app/features/variables/utils.ts, variableRegex).
_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}"
)


def substitute_variables(query: str, variables: Mapping[str, str | None] | None = None) -> str:
    """``query`` with Grafana variables replaced; ``variables`` maps the dashboard's variable
    names to the value to use outside strings (``None``: no value known)."""
    if "$" not in query and "[[" not in query:
        return query
    dashboard = variables or {}
    out: list[str] = []
    for text, where in _segments(query):
        out.append(_VARIABLE.sub(partial(_replacement, where=where, dashboard=dashboard), text))
    return "".join(out)


def _replacement(match: re.Match[str], where: str, dashboard: Mapping[str, str | None]) -> str:
    name = match.group(1) or match.group(2) or match.group(4)
    value: str | None = None
    if name.startswith("__auto_interval_"):
        value = _RANGE_FALLBACK  # an interval variable set to "auto"
    elif name in dashboard:
        value = MATCH_ANY if where == "string" else dashboard[name]
    else:
        value = BUILTIN_VARIABLES.get(name)
    if value is None:
        fallback = {"range": _RANGE_FALLBACK, "step": _STEP_FALLBACK}
        value = fallback.get(where, match.group(0))
    return value


def _segments(query: str) -> list[tuple[str, str]]:
    """Split ``query`` into runs of ``code``, ``string`` (quoted, quotes included), ``range``
    (inside ``[…]`` before a ``:``) and ``step`` (after it); a sketch of PromQL's lexer that
    knows only quotes and brackets, which is all substitution needs."""
    segments: list[tuple[str, str]] = []
    start = 0
    where = "code"
    pos = 0
    length = len(query)
    while pos < length:
        char = query[pos]
        if char in "\"'`":
            end = _string_end(query, pos)
            if pos > start:
                segments.append((query[start:pos], where))
            segments.append((query[pos:end], "string"))
            start = pos = end
            continue
        if query.startswith("${", pos) or (query.startswith("[[", pos) and where == "code"):
            # a ${variable…} or [[variable]] stays whole in the current segment
            close = query.find("}" if char == "$" else "]]", pos)
            pos = close + (1 if char == "$" else 2) if close >= 0 else length
            continue
        boundary = None
        if char == "[" and where == "code":
            boundary, after = pos + 1, "range"
        elif char == ":" and where == "range":
            boundary, after = pos + 1, "step"
        elif char == "]" and where in ("range", "step"):
            boundary, after = pos, "code"
        if boundary is not None:
            segments.append((query[start:boundary], where))
            start, where = boundary, after
        pos += 1
    if start < length:
        segments.append((query[start:], where))
    return segments


def _string_end(query: str, pos: int) -> int:
    quote = query[pos]
    pos += 1
    while pos < len(query):
        char = query[pos]
        if char == "\\" and quote != "`":
            pos += 2
            continue
        if char == quote:
            return pos + 1
        pos += 1
    return len(query)
