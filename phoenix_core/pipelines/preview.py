"""Rendering and forecasting outside any experiment: what a user tries before creating one."""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from phoenix_core.errors import FieldError, ValidationFailed
from phoenix_core.pipelines.collectors import compile_pipeline
from phoenix_core.pipelines.compiler import CompileContext, ScrapeTarget
from phoenix_core.pipelines.inventory import NAME, VALUE, inventory_from_series
from phoenix_core.pipelines.ir import Pipeline
from phoenix_core.pipelines.simulator import forecast
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.wire.tasks import CollectorKind

__all__ = [
    "CollectorVerdict",
    "ForecastResult",
    "PipelineChoice",
    "RenderResult",
    "ValidationReport",
    "forecast_choice",
    "render_choice",
    "validate_choice",
]

MAX_INVENTORY = 200_000
"""Series a forecast request may carry (larger inventories: use the library in a notebook)."""


class PipelineChoice(BaseModel):
    """A template at a version with variables: what a variant names."""

    model_config = ConfigDict(extra="forbid")

    template: str
    template_version: int | None = Field(default=None, ge=1)
    variables: dict[str, Any] = Field(default_factory=dict)

    def pipeline(self, library: TemplateLibrary) -> Pipeline:
        template = library.get(self.template, self.template_version)
        return template.render(self.variables)


class RenderResult(BaseModel):
    collector: CollectorKind
    sha256: str
    refresh_seconds: int | None
    pipeline: dict[str, Any]
    config: str


class Problem(BaseModel):
    loc: list[str | int] = Field(description="Path of the field or step at fault.")
    msg: str


class CollectorVerdict(BaseModel):
    collector: CollectorKind
    valid: bool
    problems: list[Problem] = Field(default_factory=list)


class ValidationReport(BaseModel):
    """Whether a choice renders, and on which collectors; problems name the field or step."""

    valid: bool = Field(description="True when the choice renders on at least one collector.")
    problems: list[Problem] = Field(
        default_factory=list, description="Problems with the template or its variables."
    )
    collectors: list[CollectorVerdict] = Field(default_factory=list)


class ForecastResult(BaseModel):
    input_series: int
    output_series: int
    protected: int
    per_metric: list[dict[str, Any]]
    waterfall: list[dict[str, Any]]


def _inventory(series: list[dict[str, Any]]) -> pd.DataFrame:
    if len(series) > MAX_INVENTORY:
        raise ValidationFailed(
            [FieldError(("inventory",), f"at most {MAX_INVENTORY:,} series per request")]
        )
    labels = [{k: v for k, v in s.items() if k != VALUE} for s in series]
    problems = [
        FieldError(("inventory", index, key), "a label value is a string, number or null")
        for index, found in enumerate(labels)
        for key, value in found.items()
        if isinstance(value, list | dict)
    ]
    raw = [s.get(VALUE) for s in series]
    values = [_number(v) for v in raw]
    problems += [
        FieldError(("inventory", index, VALUE), "not a number")
        for index, (given, value) in enumerate(zip(raw, values, strict=True))
        if given is not None and value is None
    ]
    if problems:
        raise ValidationFailed(problems[:20])
    numbers = [float("nan") if v is None else v for v in values]
    frame = inventory_from_series(labels, numbers if any(v is not None for v in raw) else None)
    if NAME not in frame.columns:
        raise ValidationFailed([FieldError(("inventory",), "each series needs a __name__")])
    return frame


def _number(value: Any) -> float | None:
    """A series' ``__value__`` as a float (numbers and numeric text); None when it is none."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):
        return None


def render_choice(
    choice: PipelineChoice,
    collector: CollectorKind,
    library: TemplateLibrary,
    *,
    reference: list[dict[str, Any]] | None = None,
    host: str = "example-host",
) -> RenderResult:
    """A complete config as a variant would get it (example ports, targets and labels)."""
    frame = _inventory(reference) if reference is not None else None
    return _render(choice, collector, library, frame, host)


def _render(
    choice: PipelineChoice,
    collector: CollectorKind,
    library: TemplateLibrary,
    reference: pd.DataFrame | None,
    host: str,
) -> RenderResult:
    pipeline = choice.pipeline(library)
    context = CompileContext(
        experiment_id="preview",
        variant="preview",
        host=host,
        targets=[
            ScrapeTarget("loadsim", "127.0.0.1:20000"),
            ScrapeTarget("node", "127.0.0.1:9100"),
        ],
        remote_write_url="http://127.0.0.1:9090/api/v1/write",
        ports={"http": 20001, "health": 20001, "telemetry": 20002},
        reference=reference,
    )
    rendered = compile_pipeline(collector, pipeline, context)
    return RenderResult(
        collector=collector,
        sha256=rendered.sha256,
        refresh_seconds=rendered.refresh_seconds,
        pipeline=pipeline.to_document(),
        config=rendered.text,
    )


def validate_choice(
    choice: PipelineChoice,
    library: TemplateLibrary,
    collectors: list[CollectorKind] | None = None,
    *,
    reference: list[dict[str, Any]] | None = None,
) -> ValidationReport:
    """Render the choice for each collector (all by default) and say what fails where.

    Value-dependent steps (``top_k``, value filters) are checked against ``reference`` when
    given, else against an empty one: at run time their lists come from the baseline.
    """
    try:
        choice.pipeline(library)
    except ValidationFailed as exc:
        return ValidationReport(valid=False, problems=_problems(exc))
    frame = _inventory(reference) if reference is not None else inventory_from_series([], [])
    verdicts = []
    for collector in collectors or list(CollectorKind):
        try:
            _render(choice, collector, library, frame, "example-host")
            verdicts.append(CollectorVerdict(collector=collector, valid=True))
        except ValidationFailed as exc:
            verdicts.append(
                CollectorVerdict(collector=collector, valid=False, problems=_problems(exc))
            )
    return ValidationReport(valid=any(v.valid for v in verdicts), collectors=verdicts)


def _problems(exc: ValidationFailed) -> list[Problem]:
    return [Problem(loc=list(error.loc), msg=error.message) for error in exc.errors]


def forecast_choice(
    choice: PipelineChoice,
    inventory: list[dict[str, Any]],
    library: TemplateLibrary,
    *,
    collector: CollectorKind | None = None,
) -> ForecastResult:
    """The forecast simulator's answer for a series inventory (labels, optional ``__value__``);
    with ``collector``, refused as that collector would refuse it on these series."""
    frame = _inventory(inventory)
    if collector is not None:
        _render(choice, collector, library, frame, "example-host")
    result = forecast(choice.pipeline(library), frame)
    return ForecastResult(
        input_series=result.input_series,
        output_series=result.output_series,
        protected=result.protected,
        per_metric=result.per_metric(frame).to_dict("records"),
        waterfall=result.waterfall().to_dict("records"),
    )
