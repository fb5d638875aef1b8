"""Queries in a Grafana dashboard's JSON: every panel's targets and the templating variables.

Panels are read where Grafana keeps them: ``panels`` (and the ``panels`` of collapsed rows),
and old dashboards' ``rows[].panels``. A target is read as PromQL when its datasource is
Prometheus, or of unknown type (a datasource name, the default one) and it has an ``expr``, as
mimirtool does; a target of another datasource type (Loki, server-side expressions, …), an
empty one and a library panel whose queries are not in the JSON give ``skipped`` records that
say why. Templating variables of type ``query`` are read too: ``label_values(query, label)``
(the label is used), ``query_result(query)``, ``metrics(regex)`` and plain PromQL;
``label_values(label)`` and ``label_names()`` read no metric in particular and are skipped.
Variables are replaced before parsing (``template_variables``). Takes the JSON text or the
decoded object (no I/O); an export wrapped as ``{"dashboard": …, "meta": …}`` is unwrapped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from phoenix_core.pipelines.selectors import Matcher
from phoenix_core.usage.label_use import LabelUse
from phoenix_core.usage.metric_ref import MetricRef
from phoenix_core.usage.query_analysis import MetricUse
from phoenix_core.usage.records import QuerySource, QueryUsage, failed, skipped, usage_of
from phoenix_core.usage.template_variables import substitute_variables

__all__ = ["grafana_function", "queries_from_dashboard"]

_VARIABLE_REFERENCE = re.compile(r"\$\{?(\w+)\}?")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SPECIAL_DATASOURCES = {
    "-- Mixed --": "mixed",
    "-- Grafana --": "grafana",
    "-- Dashboard --": "dashboard",
}


@dataclass
class _Dashboard:
    file: str
    uid: str | None
    title: str | None
    values: dict[str, str | None] = field(default_factory=dict)  # variable → value to use
    plugin_of: dict[str, str] = field(default_factory=dict)  # datasource variable → plugin type

    def source(self, **where: Any) -> QuerySource:
        return QuerySource(
            kind="dashboard",
            file=self.file,
            dashboard_uid=self.uid,
            dashboard_title=self.title,
            **where,
        )


def queries_from_dashboard(document: str | Mapping[str, Any], file: str) -> list[QueryUsage]:
    """One record per panel target and per query variable of the dashboard ``document``
    (named ``file`` in the records); JSON that is not a dashboard is one ``error`` record."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            return [failed(QuerySource(kind="dashboard", file=file), "", f"not JSON: {exc}")]
    if isinstance(document, Mapping) and isinstance(document.get("dashboard"), Mapping):
        document = document["dashboard"]
    if not isinstance(document, Mapping):
        return [failed(QuerySource(kind="dashboard", file=file), "", "not a dashboard object")]
    board = _Dashboard(file, _text(document.get("uid")), _text(document.get("title")))
    variables = _variables(document)
    for variable in variables:
        name = _text(variable.get("name"))
        if name:
            board.values[name] = _value(variable)
            if variable.get("type") == "datasource" and isinstance(variable.get("query"), str):
                board.plugin_of[name] = variable["query"]
    for item in document.get("__inputs") or []:
        if isinstance(item, Mapping) and item.get("type") == "datasource":
            board.plugin_of[str(item.get("name"))] = str(item.get("pluginId"))

    records: list[QueryUsage] = []
    for panel in _panels(document):
        records.extend(_panel_queries(panel, board))
    for variable in variables:
        records.extend(_variable_queries(variable, board))
    return records


def _panels(container: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for panel in _mappings(container.get("panels")):
        if panel.get("type") != "row":
            yield panel
        yield from _panels(panel)  # a collapsed row keeps its panels inside
    for row in _mappings(container.get("rows")):
        yield from _panels(row)


def _panel_queries(panel: Mapping[str, Any], board: _Dashboard) -> list[QueryUsage]:
    panel_id = panel.get("id") if isinstance(panel.get("id"), int) else None
    title = _text(panel.get("title"))
    targets = list(_mappings(panel.get("targets")))
    library = panel.get("libraryPanel")
    if not targets and isinstance(library, Mapping):
        where = board.source(panel_id=panel_id, panel_title=title)
        name = library.get("name") or library.get("uid")
        return [skipped(where, "", f"library panel {name!r}: its queries are not in this JSON")]
    records = []
    for target in targets:
        ref_id = _text(target.get("refId"))
        where = board.source(panel_id=panel_id, panel_title=title, ref_id=ref_id)
        datasource = target.get("datasource")
        if datasource is None or _plugin(datasource, board) == "mixed":
            datasource = panel.get("datasource")
        expr = target.get("expr")
        text = expr if isinstance(expr, str) else ""
        plugin = _plugin(datasource, board)
        if plugin is not None and plugin != "mixed" and "prometheus" not in plugin:
            records.append(skipped(where, text, f"datasource type {plugin!r} is not Prometheus"))
        elif not text.strip():
            records.append(skipped(where, text, "the target has no PromQL 'expr'"))
        else:
            records.append(usage_of(where, text, substitute_variables(text, board.values)))
    return records


def _variable_queries(variable: Mapping[str, Any], board: _Dashboard) -> list[QueryUsage]:
    if variable.get("type") != "query":
        return []  # custom, constant, interval, datasource, textbox, adhoc: no query to read
    where = board.source(variable=_text(variable.get("name")))
    query = variable.get("query")
    if isinstance(query, Mapping):  # variables edited in recent Grafana: {"query": …, "refId": …}
        query = query.get("query")
    text = query.strip() if isinstance(query, str) else ""
    plugin = _plugin(variable.get("datasource"), board)
    if plugin is not None and "prometheus" not in plugin:
        return [skipped(where, text, f"datasource type {plugin!r} is not Prometheus")]
    if not text:
        return [skipped(where, text, "the variable has no query")]
    return [_variable_query(where, text, substitute_variables(text, board.values))]


def _variable_query(where: QuerySource, text: str, expanded: str) -> QueryUsage:
    function, args = grafana_function(expanded)
    if function == "label_values":
        return _label_values(where, text, args)
    if function == "label_names":
        return skipped(where, text, "label_names() reads label names, not a metric's series")
    if function == "metrics" and len(args) == 1:
        # Grafana lists every metric name and keeps those the (unanchored) regex finds
        pattern = MetricRef.pattern(Matcher("__name__", "=~", f".*(?:{_unquote(args[0])}).*"))
        return QueryUsage(where, text, "ok", text, (MetricUse(pattern, LabelUse()),))
    if function == "query_result" and len(args) == 1:
        return usage_of(where, text, args[0])
    return usage_of(where, text, expanded)


def _label_values(where: QuerySource, text: str, args: list[str]) -> QueryUsage:
    if len(args) == 1:
        return skipped(where, text, "label_values(label) reads one label's values of every metric")
    if len(args) != 2 or not _LABEL_NAME.fullmatch(args[1]):
        return failed(where, text, "expected label_values(query, label)")
    return usage_of(where, text, args[0], label=args[1])


def grafana_function(query: str) -> tuple[str | None, list[str]]:
    """``name(arg, …)`` for Grafana's variable functions, arguments split at top-level commas;
    (None, []) for anything else (plain PromQL)."""
    head, paren, rest = query.partition("(")
    name = head.strip()
    if not paren or name not in ("label_values", "label_names", "metrics", "query_result"):
        return None, []
    if not rest.rstrip().endswith(")"):
        return None, []
    body = rest.rstrip()[:-1]
    args: list[str] = []
    depth, start, quote, pos = 0, 0, "", 0
    while pos < len(body):
        char = body[pos]
        if quote:
            if char == "\\":
                pos += 1
            elif char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            args.append(body[start:pos].strip())
            start = pos + 1
        pos += 1
    last = body[start:].strip()
    if last or args:
        args.append(last)
    return name, args


def _plugin(datasource: Any, board: _Dashboard) -> str | None:
    """The datasource's plugin type, or None when the JSON does not say (a datasource name,
    the default datasource)."""
    if isinstance(datasource, Mapping):
        kind = datasource.get("type")
        if isinstance(kind, str) and kind:
            return kind
        datasource = datasource.get("uid")
    if not isinstance(datasource, str):
        return None
    if datasource in _SPECIAL_DATASOURCES:
        return _SPECIAL_DATASOURCES[datasource]
    reference = _VARIABLE_REFERENCE.fullmatch(datasource)
    if reference:
        return board.plugin_of.get(reference.group(1))
    return None


def _variables(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    templating = document.get("templating")
    if not isinstance(templating, Mapping):
        return []
    return list(_mappings(templating.get("list")))


def _value(variable: Mapping[str, Any]) -> str | None:
    """The value a variable stands for outside strings: current, else first option."""
    kind = variable.get("type")
    if kind == "constant":
        return _text(variable.get("query")) or None
    candidates: list[Any] = []
    current = variable.get("current")
    if isinstance(current, Mapping):
        value = current.get("value")
        candidates.extend(value if isinstance(value, list) else [value])
    for option in _mappings(variable.get("options")):
        candidates.append(option.get("value"))
    if kind == "textbox":
        candidates.append(variable.get("query"))
    for value in candidates:
        if isinstance(value, str) and value and value not in ("$__all", "All"):
            if kind == "interval" and (value == "auto" or value.startswith("$__auto")):
                return "5m"
            return value
    return None


def _mappings(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, Mapping))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        return text[1:-1]
    return text
