"""The forecast simulator: apply a pipeline to a series inventory, vectorised in pandas.

It implements the step meanings documented in ``phoenix_core.pipelines.ir``; the collector
compilers implement the same meanings, and the end-to-end tests hold both against series
measured from real collectors. Label matching works on each column's categories (the distinct
values), never per series in Python, so a million series take well under the time budget.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from phoenix_core.errors import FieldError, ValidationFailed
from phoenix_core.pipelines.inventory import (
    NAME,
    VALUE,
    label_columns,
    labels_categorical,
    normalize_inventory,
)
from phoenix_core.pipelines.ir import (
    HASHMOD_MODULUS,
    Aggregate,
    DropLabels,
    DropMetrics,
    DropSeries,
    FilterBelow,
    KeepMetrics,
    KeepSeries,
    Pipeline,
    Protect,
    Sample,
    Step,
    TopK,
)
from phoenix_core.pipelines.selectors import Matcher, parse_selector
from phoenix_core.wire.labels import IDENTITY_LABELS, exported

__all__ = ["Forecast", "StepEffect", "forecast", "hashmod"]

_PROTECTED = "__protected__"
_BLANK_ONLY = pd.CategoricalDtype([""])


@dataclass(frozen=True)
class StepEffect:
    """What one step did: series in and out, and the keep/drop list a value step decided on."""

    index: int
    kind: str
    series_in: int
    series_out: int
    keep_values: tuple[str, ...] | None = None
    """``top_k``: the label values kept."""
    dropped_series: pd.DataFrame | None = None
    """``filter_below``: the label sets of the series it dropped."""


@dataclass(frozen=True)
class Forecast:
    """The predicted output of a pipeline over an inventory."""

    series: pd.DataFrame
    """The output series: label columns (and ``__value__`` when the inventory had values)."""
    input_series: int
    effects: list[StepEffect] = field(default_factory=list)
    protected: int = 0
    """Output series that a ``protect`` step exempted."""
    collisions: int = 0
    """Output label sets that occur more than once (a protected and a reduced series)."""

    @property
    def output_series(self) -> int:
        return len(self.series)

    def per_metric(self, inventory: pd.DataFrame) -> pd.DataFrame:
        """Series per metric before and after, with the reduction in percent."""
        before = inventory[NAME].astype(str).value_counts().rename("input_series")
        after = self.series[NAME].astype(str).value_counts().rename("output_series")
        table = pd.concat([before, after], axis=1).fillna(0).astype("int64")
        table.index.name = "metric"
        table["reduction_percent"] = np.where(
            table["input_series"] > 0,
            (1 - table["output_series"] / table["input_series"].where(table["input_series"] > 0))
            * 100,
            0.0,
        )
        return table.sort_values(["input_series", "metric"], ascending=[False, True]).reset_index()

    def waterfall(self) -> pd.DataFrame:
        """One row per step: series in, out, removed, and the share of the input removed."""
        rows = [
            {
                "step": effect.index,
                "kind": effect.kind,
                "series_in": effect.series_in,
                "series_out": effect.series_out,
                "removed": effect.series_in - effect.series_out,
                "removed_percent_of_input": (
                    (effect.series_in - effect.series_out) / self.input_series * 100
                    if self.input_series
                    else 0.0
                ),
            }
            for effect in self.effects
        ]
        return pd.DataFrame(
            rows,
            columns=[
                "step",
                "kind",
                "series_in",
                "series_out",
                "removed",
                "removed_percent_of_input",
            ],
        )


def forecast(pipeline: Pipeline, inventory: pd.DataFrame, *, normalized: bool = False) -> Forecast:
    """Apply ``pipeline`` to ``inventory`` (see ``phoenix_core.pipelines.inventory``).
    ``normalized``: the inventory is (rows of) what ``normalize_inventory`` returned, so not
    normalised and checked again (a caller forecasting many subsets of one inventory)."""
    frame = inventory.reset_index(drop=True) if normalized else normalize_inventory(inventory)
    frame = _identity_renamed(frame)
    frame[_PROTECTED] = False
    input_series = len(frame)
    effects: list[StepEffect] = []
    for index, step in enumerate(pipeline.steps):
        before = len(frame)
        frame, extra = _APPLY[type(step)](step, frame, index)
        effects.append(
            StepEffect(
                index=index, kind=step.kind, series_in=before, series_out=len(frame), **extra
            )
        )
    labels = [c for c in label_columns(frame) if c != _PROTECTED]
    collisions = int(frame.duplicated(subset=labels, keep=False).sum()) if len(frame) else 0
    protected = int(frame[_PROTECTED].sum())
    series = frame.drop(columns=[_PROTECTED]).reset_index(drop=True)
    return Forecast(
        series=_without_empty_columns(series),
        input_series=input_series,
        effects=effects,
        protected=protected,
        collisions=collisions,
    )


def _identity_renamed(frame: pd.DataFrame) -> pd.DataFrame:
    """A source label named like one of Phoenix's identity labels moves to ``exported_<name>``
    (where set), as every collector config does before its steps (``wire.labels``)."""
    clashing = [label for label in IDENTITY_LABELS if label in frame.columns]
    if not clashing:
        return frame
    frame = frame.copy()
    for label in clashing:
        values = frame[label].astype(str)
        target = exported(label)
        previous = frame[target].astype(str) if target in frame.columns else ""
        frame[target] = labels_categorical(values.where(values != "", previous))
    return frame.drop(columns=clashing)


# --- matching -------------------------------------------------------------------------------


def _column(frame: pd.DataFrame, label: str) -> pd.Series:
    if label in frame.columns:
        return frame[label]
    return pd.Series(
        pd.Categorical.from_codes(np.zeros(len(frame), dtype=np.int8), dtype=_BLANK_ONLY),
        index=frame.index,
    )


def _on_categories(values: pd.Series, test: Callable[[str], bool]) -> np.ndarray:
    """Evaluate ``test`` once per distinct value and spread the answer over all rows."""
    categorical = (
        values.astype("category") if not isinstance(values.dtype, pd.CategoricalDtype) else values
    )
    answers = np.fromiter(
        (test(str(c)) for c in categorical.cat.categories),
        dtype=bool,
        count=len(categorical.cat.categories),
    )
    codes = categorical.cat.codes.to_numpy()
    return answers[codes] if len(answers) else np.zeros(len(values), dtype=bool)


def _fullmatch(values: pd.Series, regex: str) -> np.ndarray:
    pattern = re.compile(regex)
    return _on_categories(values, lambda v: pattern.fullmatch(v) is not None)


def _in_scope(frame: pd.DataFrame, metrics: str) -> np.ndarray:
    if metrics == ".*":
        return np.ones(len(frame), dtype=bool)
    return _fullmatch(frame[NAME], metrics)


def _matcher(frame: pd.DataFrame, matcher: Matcher) -> np.ndarray:
    return _on_categories(_column(frame, matcher.label), matcher.matches)


def _unprotected(frame: pd.DataFrame) -> np.ndarray:
    return ~frame[_PROTECTED].to_numpy()


def _drop(frame: pd.DataFrame, drop: np.ndarray) -> pd.DataFrame:
    return frame.loc[~drop] if drop.any() else frame


def hashmod(value: str, modulus: int = HASHMOD_MODULUS) -> int:
    """Prometheus' ``hashmod``: the last 8 bytes of the value's MD5, big-endian, mod ``modulus``."""
    digest = hashlib.md5(value.encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "big") % modulus


# --- steps ------------------------------------------------------------------------------------

Applied = tuple[pd.DataFrame, dict[str, Any]]


def _keep_metrics(step: KeepMetrics, frame: pd.DataFrame, _index: int) -> Applied:
    return _drop(frame, ~_fullmatch(frame[NAME], step.regex) & _unprotected(frame)), {}


def _drop_metrics(step: DropMetrics, frame: pd.DataFrame, _index: int) -> Applied:
    return _drop(frame, _fullmatch(frame[NAME], step.regex) & _unprotected(frame)), {}


def _keep_series(step: KeepSeries, frame: pd.DataFrame, _index: int) -> Applied:
    miss = ~_fullmatch(_column(frame, step.label), step.regex)
    return _drop(frame, _in_scope(frame, step.metrics) & miss & _unprotected(frame)), {}


def _drop_series(step: DropSeries, frame: pd.DataFrame, _index: int) -> Applied:
    hit = _fullmatch(_column(frame, step.label), step.regex)
    return _drop(frame, _in_scope(frame, step.metrics) & hit & _unprotected(frame)), {}


def _merge(frame: pd.DataFrame, fn: str) -> pd.DataFrame:
    """Merge series with the same labels (and protection) into one, combining values with fn."""
    keys = label_columns(frame)
    colliding = frame.duplicated(subset=keys, keep=False).to_numpy()
    if not colliding.any():
        return frame
    part = frame.loc[colliding]
    grouped = part.groupby(keys, observed=True, sort=False, dropna=False)
    if VALUE in frame.columns:
        merged = grouped[VALUE].agg(fn).reset_index()
    else:
        merged = grouped.size().reset_index().drop(columns=[0])
    for column in keys:
        if column != _PROTECTED:
            merged[column] = merged[column].astype(frame[column].dtype)
    return pd.concat([frame.loc[~colliding], merged[frame.columns]], ignore_index=True)


def _blank(frame: pd.DataFrame, labels: list[str], rows: np.ndarray) -> pd.DataFrame:
    """Remove ``labels`` (set them to ``""``) on the selected rows, working on the codes."""
    present = [label for label in labels if label in frame.columns]
    if not present or not rows.any():
        return frame
    frame = frame.copy()
    for label in present:
        column = frame[label].array
        codes = column.codes.copy()
        codes[rows] = column.categories.get_loc("")
        frame[label] = pd.Categorical.from_codes(codes, dtype=column.dtype)
    return frame


def _drop_labels(step: DropLabels, frame: pd.DataFrame, _index: int) -> Applied:
    rows = _in_scope(frame, step.metrics) & _unprotected(frame)
    return _merge(_blank(frame, list(step.labels), rows), "sum"), {}


def _aggregate(step: Aggregate, frame: pd.DataFrame, _index: int) -> Applied:
    """Keep the ``by`` labels; a histogram also keeps its buckets (``le`` on ``<family>_bucket``)
    and always combines with ``sum`` (its buckets, ``_sum`` and ``_count``), as a collector
    that aggregates histograms does and as ``sum by (…, le)`` reads them."""
    rows = _in_scope(frame, step.metrics) & _unprotected(frame)
    buckets, histograms = _histogram_rows(frame)
    others = [c for c in label_columns(frame) if c not in (NAME, _PROTECTED, "le", *step.by)]
    frame = _blank(_blank(frame, others, rows), ["le"], rows & ~buckets)
    if not histograms.any():
        return _merge(frame, step.fn), {}
    merged = [_merge(frame.loc[~histograms], step.fn), _merge(frame.loc[histograms], "sum")]
    return pd.concat(merged, ignore_index=True), {}


def _histogram_rows(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The rows of histogram buckets (``<family>_bucket`` with an ``le``), and of every series
    of those families (their buckets, ``<family>_sum`` and ``<family>_count``)."""
    names = frame[NAME]
    buckets = _on_categories(names, lambda n: n.endswith("_bucket")) & (
        _column(frame, "le").astype(str).to_numpy() != ""
    )
    families = {str(n)[: -len("_bucket")] for n in names[buckets].unique()}
    parts = {f"{f}{suffix}" for f in families for suffix in ("_bucket", "_sum", "_count")}
    return buckets, _on_categories(names, parts.__contains__)


def _values(frame: pd.DataFrame, step: Step, index: int) -> np.ndarray:
    if VALUE not in frame.columns:
        raise ValidationFailed(
            [FieldError(("steps", index), f"{step.kind} needs series values in the inventory")]
        )
    return frame[VALUE].to_numpy()


def _filter_below(step: FilterBelow, frame: pd.DataFrame, index: int) -> Applied:
    values = _values(frame, step, index)
    of_metric = frame[NAME].to_numpy() == step.metric
    drop = of_metric & (values < step.threshold) & _unprotected(frame)
    # every label any series of the metric has, so that the list identifies series exactly
    labels = [c for c in label_columns(frame) if c != _PROTECTED]
    used = _without_empty_columns(frame.loc[of_metric, labels]).columns
    dropped = frame.loc[drop, list(used)].reset_index(drop=True)
    return _drop(frame, drop), {"dropped_series": dropped}


def top_k_values(frame: pd.DataFrame, step: TopK, values: np.ndarray) -> tuple[str, ...]:
    """The ``k`` values of ``by_label`` with the highest summed ``metric`` (ties: smaller first)."""
    rows = frame[NAME].to_numpy() == step.metric
    if not rows.any():
        return ()
    label = _column(frame, step.by_label)[rows].astype(str).to_numpy()
    scores = pd.Series(values[rows]).groupby(label, sort=False).sum(min_count=1)
    ranked = pd.DataFrame({"value": scores.index.astype(str), "score": scores.to_numpy()})
    ranked = ranked.sort_values(["score", "value"], ascending=[False, True], na_position="last")
    return tuple(ranked["value"].head(step.k))


def _top_k(step: TopK, frame: pd.DataFrame, index: int) -> Applied:
    keep = set(top_k_values(frame, step, _values(frame, step, index)))
    outside = ~_on_categories(_column(frame, step.by_label), keep.__contains__)
    drop = _in_scope(frame, step.scope) & outside & _unprotected(frame)
    return _drop(frame, drop), {"keep_values": tuple(sorted(keep))}


def _sample(step: Sample, frame: pd.DataFrame, _index: int) -> Applied:
    kept = step.buckets_kept
    outside = ~_on_categories(_column(frame, step.hash_label), lambda v: hashmod(v) < kept)
    return _drop(frame, _in_scope(frame, step.metrics) & outside & _unprotected(frame)), {}


def _protect(step: Protect, frame: pd.DataFrame, _index: int) -> Applied:
    hit = np.zeros(len(frame), dtype=bool)
    for text in step.selectors:
        selector = parse_selector(text)
        match = np.ones(len(frame), dtype=bool)
        for matcher in selector.matchers:
            match &= _matcher(frame, matcher)
        hit |= match
    if hit.any():
        frame = frame.copy()
        frame[_PROTECTED] = frame[_PROTECTED].to_numpy() | hit
    return frame, {}


_APPLY: dict[type, Callable[..., Applied]] = {
    KeepMetrics: _keep_metrics,
    DropMetrics: _drop_metrics,
    KeepSeries: _keep_series,
    DropSeries: _drop_series,
    DropLabels: _drop_labels,
    Aggregate: _aggregate,
    FilterBelow: _filter_below,
    TopK: _top_k,
    Sample: _sample,
    Protect: _protect,
}


def _without_empty_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop label columns that no series has any more (all ``""``)."""
    empty = []
    for column in label_columns(frame):
        if column == NAME:
            continue
        values = frame[column].array
        blank = values.categories.get_loc("")
        if not (values.codes != blank).any():
            empty.append(column)
    return frame.drop(columns=empty)
