"""Series inventories: the DataFrame the forecast simulator works on.

One row per series: a ``__name__`` column, one column per label (``""`` where a series lacks the
label, as Prometheus reads it), and optionally ``__value__``, the series' latest value. This is
what Prometheus' ``/api/v1/series`` plus an instant query give.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from phoenix_core.errors import FieldError, ValidationFailed

__all__ = [
    "NAME",
    "VALUE",
    "inventory_from_series",
    "label_columns",
    "labels_categorical",
    "normalize_inventory",
]

NAME = "__name__"
VALUE = "__value__"


def label_columns(frame: pd.DataFrame) -> list[str]:
    """The label columns of an inventory (every column but the value)."""
    return [column for column in frame.columns if column != VALUE]


def normalize_inventory(frame: pd.DataFrame) -> pd.DataFrame:
    """Labels as categoricals with ``""`` for absent, values as float; refuses duplicates."""
    if NAME not in frame.columns:
        raise ValidationFailed([FieldError(("inventory",), f"needs a {NAME!r} column")])
    frame = frame.reset_index(drop=True)  # any index a caller built (a concat, a filter)
    out: dict[str, Any] = {}
    for column in frame.columns:
        if column == VALUE:
            out[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        else:
            out[column] = labels_categorical(frame[column])
    result = pd.DataFrame(out, index=pd.RangeIndex(len(frame)))
    labels = label_columns(result)
    if result.duplicated(subset=labels).any():
        raise ValidationFailed(
            [FieldError(("inventory",), "lists the same series (label set) more than once")]
        )
    return result


def labels_categorical(values: pd.Series) -> pd.Categorical:
    """A label column as a categorical of strings whose categories always include ``""``."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        column = values.array
        if "" not in column.categories:
            column = column.add_categories([""])
        return column.fillna("")  # type: ignore[no-any-return]
    codes, uniques = values.factorize()  # missing values get code -1
    categories = pd.Index(uniques, dtype=object)
    if pd.api.types.infer_dtype(categories, skipna=False) not in ("string", "empty"):
        # numbers or mixed types: compare them as Prometheus would, as text
        return labels_categorical(values.astype(str).where(values.notna(), ""))
    if "" in set(categories):
        blank = int(cast(int, categories.get_loc("")))
    else:
        blank = len(categories)
        categories = categories.append(pd.Index([""], dtype=object))
    if (codes < 0).any():
        codes = np.where(codes < 0, blank, codes)
    return pd.Categorical.from_codes(codes, categories=categories)


def inventory_from_series(
    series: Iterable[Mapping[str, str]], values: Iterable[float] | None = None
) -> pd.DataFrame:
    """An inventory from label sets (e.g. ``/api/v1/series``), with optional latest values."""
    frame = pd.DataFrame.from_records(list(series))
    if frame.empty:
        frame = pd.DataFrame({NAME: pd.Series([], dtype=str)})
    if values is not None:
        frame[VALUE] = np.asarray(list(values), dtype="float64")
    return normalize_inventory(frame)
