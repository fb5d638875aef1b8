"""The pipeline intermediate form (IR): an ordered list of steps over metric series.

A series is a metric name (the ``__name__`` label) plus labels; an absent label reads as ``""``
(Prometheus' rule). Steps run in order; each sees what the previous ones left. Regexes are RE2
and match whole values. The meaning of every step, which the forecast simulator and every
collector compiler implement alike:

``keep_metrics(regex)``
    keep series whose metric name matches; drop the rest.
``drop_metrics(regex)``
    drop series whose metric name matches.
``keep_series(label, regex, metrics=".*")``
    among series of metrics matching ``metrics``, keep those whose ``label`` matches ``regex``.
``drop_series(label, regex, metrics=".*")``
    among series of metrics matching ``metrics``, drop those whose ``label`` matches ``regex``.
``drop_labels(labels, metrics=".*")``
    remove ``labels`` from series of metrics matching ``metrics``; series that then have the
    same labels are merged into one whose value is the sum.
``aggregate(by, fn="sum", metrics=".*")``
    for metrics matching ``metrics``, keep only the labels in ``by`` and merge series that then
    collide with ``fn`` (``sum``, ``max`` or ``mean``).
``filter_below(metric, threshold)``
    drop series of ``metric`` whose value is below ``threshold``.
``top_k(metric, k, by_label, metrics=None)``
    score each value of ``by_label`` by the sum of ``metric``'s series with that value; keep the
    ``k`` best-scoring values (ties: the smaller value first) and drop, among series of the
    metrics matching ``metrics`` (default: just ``metric``), those with another value.
``sample(hash_label, keep_fraction, metrics=".*")``
    among series of metrics matching ``metrics``, keep those whose ``hash_label`` value falls in
    the first ``keep_fraction`` of 1000 buckets of Prometheus' ``hashmod`` (MD5).
``protect(selectors)``
    series matching any of the PromQL selectors are exempt from every later step.

Light (pydantic and the standard library only; import-linter checks it).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from phoenix_core.errors import FieldError, ValidationFailed
from phoenix_core.pipelines.regex import RegexError, check_re2
from phoenix_core.pipelines.selectors import SelectorError, parse_selector
from phoenix_core.wire.labels import IDENTITY_LABELS

__all__ = [
    "HASHMOD_MODULUS",
    "STEP_KINDS",
    "Aggregate",
    "DropLabels",
    "DropMetrics",
    "DropSeries",
    "FilterBelow",
    "KeepMetrics",
    "KeepSeries",
    "Pipeline",
    "Protect",
    "Sample",
    "Step",
    "TopK",
    "parse_pipeline",
]

HASHMOD_MODULUS = 1000
"""Buckets for ``sample``: the share kept is a multiple of 1/1000."""

LabelName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
MetricName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
RESERVED_LABELS = frozenset(IDENTITY_LABELS)


def _regex(value: str) -> str:
    try:
        return check_re2(value)
    except RegexError as exc:
        raise ValueError(str(exc)) from None


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("regex", "metrics", check_fields=False)
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        return None if value is None else _regex(value)


def _user_label(value: str) -> str:
    if value.startswith("__"):
        raise ValueError(f"label {value!r} is reserved (names starting with '__')")
    return value


class KeepMetrics(_Step):
    kind: Literal["keep_metrics"] = "keep_metrics"
    regex: str


class DropMetrics(_Step):
    kind: Literal["drop_metrics"] = "drop_metrics"
    regex: str


class KeepSeries(_Step):
    kind: Literal["keep_series"] = "keep_series"
    label: LabelName
    regex: str
    metrics: str = ".*"


class DropSeries(_Step):
    kind: Literal["drop_series"] = "drop_series"
    label: LabelName
    regex: str
    metrics: str = ".*"


class DropLabels(_Step):
    kind: Literal["drop_labels"] = "drop_labels"
    labels: list[LabelName] = Field(min_length=1)
    metrics: str = ".*"

    @field_validator("labels")
    @classmethod
    def _droppable(cls, value: list[str]) -> list[str]:
        for label in value:
            _user_label(label)
            if label in RESERVED_LABELS:
                raise ValueError(f"label {label!r} is set by Phoenix and cannot be dropped")
        if len(set(value)) != len(value):
            raise ValueError("labels must be unique")
        return value


class Aggregate(_Step):
    kind: Literal["aggregate"] = "aggregate"
    by: list[LabelName]
    fn: Literal["sum", "max", "mean"] = "sum"
    metrics: str = ".*"

    @field_validator("by")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        for label in value:
            _user_label(label)
        if len(set(value)) != len(value):
            raise ValueError("labels must be unique")
        return value


class FilterBelow(_Step):
    kind: Literal["filter_below"] = "filter_below"
    metric: MetricName
    threshold: float = Field(allow_inf_nan=False)

    @field_validator("threshold", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("threshold must be a number")
        return value


class TopK(_Step):
    kind: Literal["top_k"] = "top_k"
    metric: MetricName
    k: int = Field(ge=1, le=10_000, strict=True)
    by_label: LabelName
    metrics: str | None = None

    @property
    def scope(self) -> str:
        """The metrics whose series the keep-list applies to."""
        return self.metrics if self.metrics is not None else _literal(self.metric)


class Sample(_Step):
    kind: Literal["sample"] = "sample"
    hash_label: LabelName
    keep_fraction: float = Field(gt=0, le=1)
    metrics: str = ".*"

    @property
    def buckets_kept(self) -> int:
        """How many of the ``HASHMOD_MODULUS`` buckets are kept (at least one)."""
        return max(1, round(self.keep_fraction * HASHMOD_MODULUS))


class Protect(_Step):
    kind: Literal["protect"] = "protect"
    selectors: list[str] = Field(min_length=1)

    @field_validator("selectors")
    @classmethod
    def _parse(cls, value: list[str]) -> list[str]:
        for index, text in enumerate(value):
            try:
                parse_selector(text)
            except SelectorError as exc:
                raise ValueError(f"selector {index}: {exc}") from None
        return value


Step = Annotated[
    KeepMetrics
    | DropMetrics
    | KeepSeries
    | DropSeries
    | DropLabels
    | Aggregate
    | FilterBelow
    | TopK
    | Sample
    | Protect,
    Field(discriminator="kind"),
]

STEP_KINDS: tuple[str, ...] = (
    "keep_metrics",
    "drop_metrics",
    "keep_series",
    "drop_series",
    "drop_labels",
    "aggregate",
    "filter_below",
    "top_k",
    "sample",
    "protect",
)


def _literal(name: str) -> str:
    import re

    return re.escape(name)


class Pipeline(BaseModel):
    """An ordered list of steps, written as ``[{"top_k": {...}}, {"protect": {...}}]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[Step] = Field(default_factory=list)
    refresh_seconds: int = Field(
        default=60, ge=5, le=86_400, description="How often keep-lists are recomputed."
    )

    @model_validator(mode="before")
    @classmethod
    def _step_form(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            return data
        steps = []
        for step in data["steps"]:
            if isinstance(step, dict) and len(step) == 1 and "kind" not in step:
                ((kind, params),) = step.items()
                steps.append({"kind": kind, **(params if isinstance(params, dict) else {})})
            else:
                steps.append(step)
        return {**data, "steps": steps}

    def to_document(self) -> dict[str, Any]:
        """The user-facing form: each step as ``{kind: {params}}``."""
        steps = []
        for step in self.steps:
            params = step.model_dump(mode="json", exclude={"kind"}, exclude_defaults=True)
            steps.append({step.kind: params})
        return {"steps": steps, "refresh_seconds": self.refresh_seconds}

    @property
    def needs_reference_values(self) -> bool:
        return any(isinstance(step, TopK | FilterBelow) for step in self.steps)


def parse_pipeline(data: Any) -> Pipeline:
    """Validate a pipeline document; errors name the step and the field (``steps.2.k``)."""
    if isinstance(data, dict) and isinstance(data.get("steps"), list):
        for index, step in enumerate(data["steps"]):
            kind = _kind_of(step)
            if kind is not None and kind not in STEP_KINDS:
                known = ", ".join(STEP_KINDS)
                raise ValidationFailed(
                    [FieldError(("steps", index), f"unknown step {kind!r}; known: {known}")]
                )
    try:
        return Pipeline.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = list(err["loc"])
            # pydantic puts the discriminator value in the path: steps.2.top_k.k -> steps.2.k
            if len(loc) >= 3 and loc[0] == "steps" and loc[2] in STEP_KINDS:
                del loc[2]
            message = err["msg"].removeprefix("Value error, ")
            errors.append(FieldError(loc, message))
        raise ValidationFailed(errors) from exc


def _kind_of(step: Any) -> str | None:
    if isinstance(step, dict):
        if "kind" in step:
            return str(step["kind"])
        if len(step) == 1:
            return str(next(iter(step)))
    return None
