"""The Cost and Compare pages' figures, from what ``GET /api/v1/price-books``, ``GET
/api/v1/experiments``, ``…/{id}/verdict`` and ``…/{id}/cost`` answer: records in, DataFrames
and HoloViews elements out, no I/O (``pn.bind`` binds them to the pages)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh
import pandas as pd

__all__ = [
    "COST_COLUMNS",
    "analysed",
    "cost_chart",
    "cost_table",
    "experiment_label",
    "price_book_names",
]

COST_COLUMNS = [
    "experiment",
    "variant",
    "role",
    "monthly",
    "monthly low",
    "monthly high",
    "yearly",
    "savings / month",
    "savings low",
    "savings high",
    "savings / year",
    "currency",
]


def price_book_names(books: Sequence[Mapping[str, Any]]) -> list[str]:
    """The price books' names, sorted (the selector's choices)."""
    return sorted(str(book["name"]) for book in books)


def analysed(summaries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The listed experiments that have a verdict (only they have KPIs and a cost)."""
    return [s for s in summaries if s.get("verdict")]


def experiment_label(summary: Mapping[str, Any]) -> str:
    """How a multi-select names an experiment: its name and the start of its id."""
    return f"{summary['name']} ({str(summary['id'])[:8]})"


def _amount(value: Mapping[str, Any] | None, key: str) -> float | None:
    if not value:
        return None
    found = value.get(key)
    return None if found is None else float(found)


def cost_table(costs: Mapping[str, Mapping[str, Any]], names: Mapping[str, str]) -> pd.DataFrame:
    """One row per experiment (``costs`` by id, named by ``names``) and variant: the projected
    monthly cost with its interval, yearly, and the savings against the baseline (a month's
    with its interval, a year's), in the price book's currency."""
    rows = []
    for experiment_id, answer in costs.items():
        for variant in answer["variants"]:
            monthly, savings = variant.get("monthly"), variant.get("savings_monthly")
            rows.append(
                {
                    "experiment": names.get(experiment_id, experiment_id),
                    "variant": variant["variant"],
                    "role": variant["role"],
                    "monthly": _amount(monthly, "value"),
                    "monthly low": _amount(monthly, "low"),
                    "monthly high": _amount(monthly, "high"),
                    "yearly": _amount(variant.get("yearly"), "value"),
                    "savings / month": _amount(savings, "value"),
                    "savings low": _amount(savings, "low"),
                    "savings high": _amount(savings, "high"),
                    "savings / year": _amount(variant.get("savings_yearly"), "value"),
                    "currency": answer["currency"],
                }
            )
    return pd.DataFrame(rows, columns=COST_COLUMNS)


def cost_chart(
    table: pd.DataFrame, value: str = "monthly", low: str = "monthly low",
    high: str = "monthly high", title: str = "Projected cost per month",
) -> hv.Overlay:  # fmt: skip
    """Bars of ``value`` per experiment and variant, with whiskers from ``low`` to ``high``
    (none where the API gave no interval)."""
    frame = table.dropna(subset=[value]).copy()
    frame["bar"] = frame["experiment"] + " · " + frame["variant"]
    frame["below"] = (frame[value] - frame[low]).fillna(0).clip(lower=0)
    frame["above"] = (frame[high] - frame[value]).fillna(0).clip(lower=0)
    currency = "/".join(sorted(set(frame["currency"]))) or "currency"
    label = f"{title} ({currency})"
    bars = hv.Bars(frame, kdims=["bar"], vdims=[hv.Dimension(value, label=label)]).opts(
        xrotation=20,
        responsive=True,
        height=320,
        xlabel="experiment · variant",
        title=label,
        tools=["hover"],
        color="#4c78a8",
    )
    whiskers = hv.ErrorBars(frame, kdims=["bar"], vdims=[value, "below", "above"]).opts(
        line_width=2, color="#222"
    )
    return bars * whiskers
