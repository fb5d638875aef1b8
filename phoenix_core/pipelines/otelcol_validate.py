"""Static checks of an OpenTelemetry Collector config before it reaches a host.

A collector that cannot parse its config refuses to start, and the error surfaces on the host,
late. This catches the mistakes a compiler or a hand edit makes: components the pinned release
(``otelcol_components.yaml``) does not have, ids used but not defined or defined but not used,
and OTTL conditions and statements that do not parse or use paths their context lacks. The OTTL
parser covers the subset Phoenix writes (no arithmetic, no maps as values in conditions).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from phoenix_core.errors import FieldError, ValidationFailed

__all__ = [
    "Component",
    "OttlError",
    "PinnedComponents",
    "check_ottl",
    "pinned_components",
    "validate_otelcol_config",
]

SECTIONS = {
    "receivers": "receiver",
    "processors": "processor",
    "exporters": "exporter",
    "extensions": "extension",
}
PIPELINE_TYPES = frozenset({"traces", "metrics", "logs"})


@dataclass(frozen=True)
class Component:
    kind: str
    type: str
    module: str


@dataclass(frozen=True)
class PinnedComponents:
    """The collector release Phoenix runs and the components built into it."""

    release: str
    components: tuple[Component, ...]

    def types(self, kind: str) -> frozenset[str]:
        return frozenset(c.type for c in self.components if c.kind == kind)


@lru_cache(maxsize=1)
def pinned_components() -> PinnedComponents:
    """Read ``otelcol_components.yaml`` (shipped as package data)."""
    source = resources.files("phoenix_core.pipelines") / "otelcol_components.yaml"
    data = yaml.safe_load(source.read_text())
    return PinnedComponents(
        release=str(data["release"]),
        components=tuple(
            Component(str(c["kind"]), str(c["type"]), str(c["module"])) for c in data["components"]
        ),
    )


# --- OTTL -------------------------------------------------------------------------------------

CONVERTERS = frozenset(
    {
        "IsMatch",
        "IsString",
        "IsInt",
        "IsDouble",
        "IsBool",
        "IsMap",
        "IsList",
        "Concat",
        "Int",
        "Double",
        "String",
        "Len",
        "Split",
        "Substring",
        "ToLowerCase",
        "ToUpperCase",
        "Format",
        "Hex",
        "SHA256",
        "Now",
        "Time",
        "UnixNano",
        "ConvertCase",
        "HasPrefix",
        "HasSuffix",
    }
)
EDITORS = frozenset(
    {
        "set",
        "delete_key",
        "delete_matching_keys",
        "keep_keys",
        "keep_matching_keys",
        "limit",
        "replace_pattern",
        "replace_all_patterns",
        "replace_match",
        "replace_all_matches",
        "truncate_all",
        "merge_maps",
        "append",
        "aggregate_on_attributes",
        "aggregate_on_attribute_value",
        "convert_sum_to_gauge",
        "convert_gauge_to_sum",
        "scale_metric",
        "copy_metric",
    }
)
METRIC_ONLY_EDITORS = frozenset(
    {
        "aggregate_on_attributes",
        "aggregate_on_attribute_value",
        "convert_sum_to_gauge",
        "convert_gauge_to_sum",
        "scale_metric",
        "copy_metric",
    }
)
FIELDS = {
    "datapoint": frozenset(
        {
            "attributes",
            "start_time_unix_nano",
            "time_unix_nano",
            "start_time",
            "time",
            "value_double",
            "value_int",
            "exemplars",
            "flags",
            "count",
            "sum",
            "bucket_counts",
            "explicit_bounds",
            "scale",
            "zero_count",
            "positive",
            "negative",
            "quantile_values",
        }
    ),
    "metric": frozenset(
        {
            "name",
            "description",
            "unit",
            "type",
            "aggregation_temporality",
            "is_monotonic",
            "data_points",
            "metadata",
        }
    ),
    "resource": frozenset({"attributes", "dropped_attributes_count", "schema_url"}),
    "scope": frozenset({"name", "version", "attributes", "dropped_attributes_count", "schema_url"}),
}
FIELDS["instrumentation_scope"] = FIELDS["scope"]
REACHABLE = {
    "datapoint": ("datapoint", "metric", "resource", "scope", "instrumentation_scope"),
    "metric": ("metric", "resource", "scope", "instrumentation_scope"),
}
"""The path prefixes each context can read; unprefixed paths are the context's own fields."""

_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<string>"(?:\\.|[^\\"])*")
    |(?P<bytes>0x[0-9a-fA-F]+)
    |(?P<float>[-+]?\d*\.\d+(?:[eE][-+]?\d+)?)
    |(?P<int>[-+]?\d+)
    |(?P<op>==|!=|<=|>=|<|>)
    |(?P<punct>[()\[\]{},.:=])
    |(?P<ident>[A-Za-z][A-Za-z0-9_]*)""",
    re.VERBOSE,
)
_KEYWORDS = frozenset({"and", "or", "not", "true", "false", "nil", "where"})


class OttlError(ValueError):
    """An OTTL condition or statement that does not parse, or uses what its context lacks."""


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos] == '"':
                raise OttlError(f"unbalanced quote: the string at position {pos} never ends")
            raise OttlError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = match.lastgroup or ""
        if kind == "punct" or (kind == "ident" and match.group() in _KEYWORDS):
            kind = match.group()
        if kind != "space":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent over the OTTL grammar (precedence: or < and < not < comparison)."""

    def __init__(self, text: str, context: str) -> None:
        self.tokens = _tokenize(text)
        self.at = 0
        self.context = context

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.at += 1
        return token

    def expect(self, kind: str, what: str) -> _Token:
        if self.peek().kind != kind:
            raise OttlError(f"expected {what} at position {self.peek().pos}, got {self._got()}")
        return self.take()

    def _got(self) -> str:
        token = self.peek()
        return "the end" if token.kind == "end" else repr(token.text)

    def finish(self) -> None:
        if self.peek().kind != "end":
            raise OttlError(f"unexpected {self._got()} at position {self.peek().pos}")

    def statement(self) -> None:
        token = self.peek()
        if token.kind != "ident" or not token.text[0].islower():
            raise OttlError(f"a statement starts with an editor (lowercase), got {self._got()}")
        self.call()
        if self.peek().kind == "where":
            self.take()
            self.boolean()
        self.finish()

    def condition(self) -> None:
        self.boolean()
        self.finish()

    def boolean(self) -> None:
        self.term()
        while self.peek().kind == "or":
            self.take()
            self.term()

    def term(self) -> None:
        self.boolean_value()
        while self.peek().kind == "and":
            self.take()
            self.boolean_value()

    def boolean_value(self) -> None:
        if self.peek().kind == "not":
            self.take()
        if self.peek().kind == "(":
            self.take()
            self.boolean()
            self.expect(")", "')'")
            return
        start = self.peek()
        kind = self.value()
        if self.peek().kind == "op":
            self.take()
            self.value()
        elif kind not in ("converter", "boolean"):
            raise OttlError(
                f"{start.text!r} at position {start.pos} is not a condition: "
                "compare it (==, !=, <, ...) or call a converter"
            )

    def value(self) -> str:
        token = self.peek()
        if token.kind in ("nil", "string", "int", "float", "bytes"):
            self.take()
            return token.kind
        if token.kind in ("true", "false"):
            self.take()
            return "boolean"
        if token.kind == "[":
            self.sequence("[", "]", self.value)
            return "list"
        if token.kind == "ident" and self.peek(1).kind == "(":
            if not token.text[0].isupper():
                raise OttlError(
                    f"{token.text!r} is an editor; only converters (capitalised) return values"
                )
            self.call()
            return "converter"
        if token.kind == "ident" and token.text[0].isupper():
            self.take()
            return "enum"
        if token.kind == "ident":
            self.path()
            return "path"
        raise OttlError(f"expected a value at position {token.pos}, got {self._got()}")

    def sequence(self, open_: str, close: str, item: Any) -> None:
        self.expect(open_, repr(open_))
        if self.peek().kind != close:
            item()
            while self.peek().kind == ",":
                self.take()
                item()
        self.expect(close, f"{close!r}")

    def call(self) -> None:
        name = self.take().text
        known = CONVERTERS if name[0].isupper() else EDITORS
        if name not in known:
            kind = "converter" if name[0].isupper() else "editor"
            raise OttlError(f"unknown {kind} {name!r}")
        if name in METRIC_ONLY_EDITORS and self.context != "metric":
            raise OttlError(f"{name} works in the metric context only, not {self.context}")
        self.sequence("(", ")", self.argument)
        self.keys()

    def argument(self) -> None:
        if self.peek().kind == "ident" and self.peek(1).kind == "=":
            self.take()
            self.take()
        self.value()

    def keys(self) -> None:
        while self.peek().kind == "[":
            self.take()
            if self.peek().kind not in ("string", "int"):
                raise OttlError(f"expected a string or int key at position {self.peek().pos}")
            self.take()
            self.expect("]", "']'")

    def path(self) -> None:
        start = self.peek()
        names = [self.take().text]
        self.keys()
        while self.peek().kind == ".":
            self.take()
            names.append(self.expect("ident", "a field name").text)
            self.keys()
        problem = _path_problem(names, self.context)
        if problem:
            raise OttlError(f"{'.'.join(names)} at position {start.pos}: {problem}")


def _path_problem(names: list[str], context: str) -> str | None:
    head = names[0]
    reachable = REACHABLE.get(context, ("datapoint", "metric", "resource", "scope"))
    problem = None
    if head in FIELDS and len(names) > 1:
        if head not in reachable:
            problem = f"the {context} context cannot read {head} paths"
        elif names[1] not in FIELDS[head]:
            problem = f"{head} has no field {names[1]!r}"
    elif head == "cache":
        pass
    elif context not in FIELDS:
        problem = "needs a context prefix (resource, scope, metric, datapoint)"
    elif head not in FIELDS[context]:
        problem = f"the {context} context has no field {head!r}"
    return problem


def check_ottl(text: str, context: str, *, statement: bool) -> None:
    """Parse one OTTL statement (``statement=True``) or condition; raise ``OttlError``."""
    parser = _Parser(text, context)
    if statement:
        parser.statement()
    else:
        parser.condition()


# --- the config -------------------------------------------------------------------------------


def validate_otelcol_config(text: str) -> None:
    """Raise ``ValidationFailed`` with one ``FieldError`` per problem found in ``text``."""
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationFailed([FieldError((), f"not valid YAML: {exc}")]) from None
    if not isinstance(config, dict):
        raise ValidationFailed([FieldError((), "the config must be a YAML mapping")])
    errors: list[FieldError] = []
    pinned = pinned_components()
    for section in ("receivers", "processors", "exporters", "service"):
        if not isinstance(config.get(section), dict):
            errors.append(FieldError((section,), "missing: a mapping is required"))
    for section, kind in SECTIONS.items():
        block = config.get(section)
        for component_id in block if isinstance(block, dict) else ():
            known = pinned.types(kind)
            if str(component_id).split("/", 1)[0] not in known:
                errors.append(
                    FieldError(
                        (section, component_id),
                        f"unknown {kind} type; {pinned.release} has: {', '.join(sorted(known))}",
                    )
                )
    service = config.get("service")
    if isinstance(service, dict):
        errors.extend(_check_service(config, service))
    processors = config.get("processors")
    for component_id, settings in processors.items() if isinstance(processors, dict) else ():
        errors.extend(_check_processor(str(component_id), settings))
    if errors:
        raise ValidationFailed(errors)


def _defined(config: dict[str, Any], section: str) -> set[str]:
    block = config.get(section)
    return {str(k) for k in block} if isinstance(block, dict) else set()


def _check_service(config: dict[str, Any], service: dict[str, Any]) -> list[FieldError]:
    errors = []
    for position, name in enumerate(_list(service.get("extensions"))):
        if name not in _defined(config, "extensions"):
            errors.append(
                FieldError(("service", "extensions", position), f"{name!r} is not defined")
            )
    pipelines = service.get("pipelines")
    if not isinstance(pipelines, dict) or not pipelines:
        return [*errors, FieldError(("service", "pipelines"), "at least one pipeline is required")]
    used: dict[str, set[str]] = {section: set() for section in SECTIONS}
    for pipeline_id, pipeline in pipelines.items():
        loc = ("service", "pipelines", pipeline_id)
        if str(pipeline_id).split("/", 1)[0] not in PIPELINE_TYPES:
            errors.append(FieldError(loc, "the pipeline type must be traces, metrics or logs"))
        parts = pipeline if isinstance(pipeline, dict) else {}
        for section in ("receivers", "processors", "exporters"):
            names = _list(parts.get(section))
            if section != "processors" and not names:
                errors.append(FieldError((*loc, section), f"at least one of the {section}"))
            for position, name in enumerate(names):
                used[section].add(str(name))
                if str(name) not in _defined(config, section):
                    errors.append(
                        FieldError(
                            (*loc, section, position), f"{name!r} is not defined in {section}"
                        )
                    )
    for section in ("receivers", "processors", "exporters"):
        for name in sorted(_defined(config, section) - used[section]):
            errors.append(FieldError((section, name), "defined but used by no pipeline"))
    return errors


_Located = tuple[tuple[str | int, ...], Any, str, bool]
"""Where an OTTL text sits in the processor, the text, its context, and whether a statement."""


def _check_processor(component_id: str, settings: Any) -> list[FieldError]:
    errors = []
    for loc, text, context, is_statement in _ottl_texts(component_id, settings):
        if context not in ("inferred", "metric", "datapoint"):
            errors.append(FieldError(("processors", component_id, *loc), "unsupported context"))
            continue
        try:
            check_ottl(str(text), context, statement=is_statement)
        except OttlError as exc:
            errors.append(FieldError(("processors", component_id, *loc), f"{exc}: {text}"))
    return errors


def _ottl_texts(component_id: str, settings: Any) -> list[_Located]:
    """The OTTL conditions (filter) and statements (transform) of a metrics processor."""
    kind = component_id.split("/", 1)[0]
    settings = settings if isinstance(settings, dict) else {}
    found: list[_Located] = []
    if kind == "filter":
        metrics = settings.get("metrics") if isinstance(settings.get("metrics"), dict) else {}
        for context in ("metric", "datapoint"):
            for at, text in enumerate(_list(metrics.get(context))):
                found.append((("metrics", context, at), text, context, False))
        for at, text in enumerate(_list(settings.get("metric_conditions"))):
            found.append((("metric_conditions", at), text, "inferred", False))
    if kind == "transform":
        for group_at, group in enumerate(_list(settings.get("metric_statements"))):
            if not isinstance(group, dict):
                found.append((("metric_statements", group_at), group, "inferred", True))
                continue
            context = str(group.get("context", "inferred"))
            for key, is_statement in (("conditions", False), ("statements", True)):
                for at, text in enumerate(_list(group.get(key))):
                    found.append(
                        (("metric_statements", group_at, key, at), text, context, is_statement)
                    )
    return found


def _list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else []
