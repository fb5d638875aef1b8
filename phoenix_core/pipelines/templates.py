"""Pipeline templates: step lists with typed variables, kept as YAML data files.

A template's steps may use ``$name`` as a whole value to stand for a variable; a step with
``if: name`` is included only when that variable is non-empty. Rendering checks every given
variable (unknown, ill-typed or missing ones are errors naming the variable), substitutes, and
validates the result as a ``Pipeline``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from phoenix_core.errors import FieldError, NotFound, ValidationFailed
from phoenix_core.pipelines.ir import LabelName, MetricName, Pipeline, parse_pipeline
from phoenix_core.pipelines.regex import RegexError, check_re2
from phoenix_core.pipelines.selectors import SelectorError, parse_selector

__all__ = ["Template", "TemplateLibrary", "Variable", "VariableType"]

VariableType = Literal[
    "string",
    "integer",
    "number",
    "boolean",
    "regex",
    "metric_name",
    "label_name",
    "selector",
    "string_list",
    "label_list",
    "selector_list",
]

_REFERENCE = re.compile(r"^\$([a-z_][a-z0-9_]*)$")


def _regex(value: str) -> str:
    try:
        return check_re2(value)
    except RegexError as exc:
        raise ValueError(str(exc)) from None


def _selector(value: str) -> str:
    try:
        parse_selector(value)
    except SelectorError as exc:
        raise ValueError(str(exc)) from None
    return value


Regex = Annotated[str, AfterValidator(_regex)]
SelectorText = Annotated[str, AfterValidator(_selector)]

_BASE_TYPES: dict[str, Any] = {
    "string": str,
    "integer": Annotated[int, Field(strict=True)],
    "number": Annotated[float, Field(allow_inf_nan=False)],
    "boolean": Annotated[bool, Field(strict=True)],
    "regex": Regex,
    "metric_name": MetricName,
    "label_name": LabelName,
    "selector": SelectorText,
    "string_list": list[str],
    "label_list": list[LabelName],
    "selector_list": list[SelectorText],
}


class Variable(BaseModel):
    """A typed template variable with an optional default and bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: VariableType
    description: str = ""
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: list[Any] | None = None

    def adapter(self) -> TypeAdapter[Any]:
        base = _BASE_TYPES[self.type]
        if self.type == "number":
            base = Annotated[float, Field(allow_inf_nan=False, strict=False)]
        constraints: dict[str, Any] = {}
        if self.minimum is not None:
            constraints["ge"] = self.minimum
        if self.maximum is not None:
            constraints["le"] = self.maximum
        if constraints:
            base = Annotated[base, Field(**constraints)]
        if self.choices:
            base = Literal[tuple(self.choices)]
        return TypeAdapter(base)

    def check(self, value: Any) -> Any:
        if self.type == "number" and isinstance(value, bool):
            raise ValueError("Input should be a valid number")
        return self.adapter().validate_python(value)


class Template(BaseModel):
    """A named, versioned pipeline template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    version: int = Field(ge=1)
    description: str
    variables: dict[str, Variable] = Field(default_factory=dict)
    steps: list[dict[str, Any]] = Field(default_factory=list)
    refresh_seconds: int = 60

    def render(self, given: dict[str, Any] | None = None) -> Pipeline:
        """The pipeline for ``given`` variables; ``ValidationFailed`` names what is wrong."""
        given = dict(given or {})
        errors = [
            FieldError(("variables", name), f"unknown variable; {self.name} has: {self._known()}")
            for name in given
            if name not in self.variables
        ]
        values: dict[str, Any] = {}
        for name, variable in self.variables.items():
            if name in given:
                try:
                    values[name] = variable.check(given[name])
                except ValidationError as exc:
                    message = exc.errors()[0]["msg"].removeprefix("Value error, ")
                    errors.append(FieldError(("variables", name), f"{message} ({variable.type})"))
                except ValueError as exc:
                    errors.append(FieldError(("variables", name), f"{exc} ({variable.type})"))
            elif variable.default is not None:
                values[name] = variable.default
            else:
                errors.append(
                    FieldError(("variables", name), "missing; this variable has no default")
                )
        if errors:
            raise ValidationFailed(errors)
        steps = []
        for declared in self.steps:
            step = dict(declared)
            condition = step.pop("if", None)
            if condition is not None and not values.get(condition):
                continue
            steps.append(_substitute(step, values))
        return parse_pipeline({"steps": steps, "refresh_seconds": self.refresh_seconds})

    def _known(self) -> str:
        return ", ".join(sorted(self.variables)) or "no variables"

    def check_definition(self) -> None:
        """Raise ``ValidationFailed`` if defaults or references do not fit the variables."""
        used = set()
        for step in self.steps:
            used.update(_references(step))
            if "if" in step:
                used.add(step["if"])
        unknown = used - set(self.variables)
        if unknown:
            raise ValidationFailed(
                [FieldError(("steps",), f"uses undeclared variables: {', '.join(sorted(unknown))}")]
            )
        self.render({})


def _substitute(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        match = _REFERENCE.match(value)
        return values[match.group(1)] if match else value
    if isinstance(value, dict):
        return {key: _substitute(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, values) for item in value]
    return value


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        match = _REFERENCE.match(value)
        return {match.group(1)} if match else set()
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


@dataclass(frozen=True)
class TemplateLibrary:
    """Templates by (name, version); ``builtin()`` loads the ones shipped with Phoenix."""

    templates: dict[tuple[str, int], Template]

    @classmethod
    def builtin(cls) -> TemplateLibrary:
        folder = resources.files("phoenix_core.pipelines") / "templates"
        found: dict[tuple[str, int], Template] = {}
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".yaml"):
                template = Template.model_validate(yaml.safe_load(entry.read_text()))
                found[(template.name, template.version)] = template
        return cls(found)

    def names(self) -> list[str]:
        return sorted({name for name, _ in self.templates})

    def versions(self, name: str) -> list[Template]:
        """Every version of a template, oldest first."""
        found = [self.templates[key] for key in sorted(k for k in self.templates if k[0] == name)]
        if not found:
            raise self._unknown(name)
        return found

    def get(self, name: str, version: int | None = None) -> Template:
        """One template; the newest version when ``version`` is None."""
        versions = sorted(v for n, v in self.templates if n == name)
        if not versions:
            raise self._unknown(name)
        chosen = versions[-1] if version is None else version
        if (name, chosen) not in self.templates:
            have = ", ".join(str(v) for v in versions)
            detail = f"No pipeline template '{name}' version {version} exists (versions: {have})."
            raise NotFound("pipeline template", f"{name} version {version}", detail=detail)
        return self.templates[(name, chosen)]

    def _unknown(self, name: str) -> NotFound:
        names = ", ".join(self.names())
        return NotFound(
            "pipeline template",
            name,
            detail=f"No pipeline template '{name}' exists (templates: {names}).",
        )
