"""The Compare page's table and charts, from what ``…/{id}/verdict`` and ``…/{id}/cost``
answer for each experiment compared: records in, DataFrames and HoloViews elements out, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh
import pandas as pd

__all__ = [
    "KPI_COLUMNS",
    "OUTCOME_COLUMNS",
    "kpi_table",
    "outcomes_table",
    "parse_ids",
    "reduction_chart",
    "savings_chart",
]

KPI_COLUMNS = [
    "experiment",
    "candidate",
    "kpi",
    "unit",
    "baseline",
    "change (%)",
    "low (%)",
    "high (%)",
    "change",
    "outcome",
]
OUTCOME_COLUMNS = ["experiment", "candidate", "series reduction (%)", "savings / month",
                   "savings low", "savings high", "currency"]  # fmt: skip
ACTIVE_SERIES = "active_series"


def parse_ids(text: str) -> list[str]:
    """Experiment ids from a query string's ``ids`` (comma separated), in order, once each."""
    found: list[str] = []
    for part in text.split(","):
        ident = part.strip()
        if ident and ident not in found:
            found.append(ident)
    return found


def _direction(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "no interval"
    if high < 0:
        return "lower"
    if low > 0:
        return "higher"
    return "no clear change"


def kpi_table(verdicts: Mapping[str, Mapping[str, Any]], names: Mapping[str, str]) -> pd.DataFrame:
    """One row per experiment (``verdicts`` by id), candidate and KPI (over all hosts): the
    baseline's value, the candidate's change against it (%) with its interval, whether the
    interval lies below or above 0, and the candidate's outcome in the verdict."""
    rows = []
    for experiment_id, verdict in verdicts.items():
        outcomes = {c["variant"]: c.get("outcome", "") for c in verdict.get("candidates", [])}
        overall = [r for r in verdict["comparisons"] if r["host"] is None]
        baseline = {r["kpi"]: r["value"] for r in overall if r["variant"] not in outcomes}
        for row in overall:
            if row["variant"] not in outcomes:
                continue
            low, high = row.get("ci_low"), row.get("ci_high")
            rows.append(
                {
                    "experiment": names.get(experiment_id, experiment_id),
                    "candidate": row["variant"],
                    "kpi": row["kpi"],
                    "unit": row.get("unit") or "",
                    "baseline": baseline.get(row["kpi"]),
                    "change (%)": row.get("change_percent"),
                    "low (%)": low,
                    "high (%)": high,
                    "change": _direction(low, high),
                    "outcome": outcomes[row["variant"]] or verdict.get("outcome", ""),
                }
            )
    return pd.DataFrame(rows, columns=KPI_COLUMNS)


def outcomes_table(
    verdicts: Mapping[str, Mapping[str, Any]],
    costs: Mapping[str, Mapping[str, Any]],
    names: Mapping[str, str],
) -> pd.DataFrame:
    """One row per experiment and candidate: its series reduction (the opposite of its
    ``active_series`` change, %) and its monthly savings with their interval (from the cost
    answer, when there is one)."""
    rows = []
    for experiment_id, verdict in verdicts.items():
        candidates = [c["variant"] for c in verdict.get("candidates", [])]
        changes = {
            r["variant"]: r["change_percent"]
            for r in verdict["comparisons"]
            if r["kpi"] == ACTIVE_SERIES and r["host"] is None
        }
        cost = costs.get(experiment_id)
        savings = {v["variant"]: v.get("savings_monthly") for v in (cost or {}).get("variants", [])}
        for candidate in candidates:
            change = changes.get(candidate)
            saved = savings.get(candidate) or {}
            rows.append(
                {
                    "experiment": names.get(experiment_id, experiment_id),
                    "candidate": candidate,
                    "series reduction (%)": None if change is None else -change,
                    "savings / month": saved.get("value"),
                    "savings low": saved.get("low"),
                    "savings high": saved.get("high"),
                    "currency": cost["currency"] if cost else "",
                }
            )
    return pd.DataFrame(rows, columns=OUTCOME_COLUMNS)


def _bars(frame: pd.DataFrame, value: str, label: str, color: str) -> hv.Bars:
    shown = frame.dropna(subset=[value]).copy()
    shown["bar"] = shown["experiment"] + " · " + shown["candidate"]
    return hv.Bars(shown, kdims=["bar"], vdims=[hv.Dimension(value, label=label)]).opts(
        responsive=True, height=300, xrotation=20, xlabel="experiment · candidate",
        title=label, color=color, tools=["hover"],
    )  # fmt: skip


def reduction_chart(outcomes: pd.DataFrame) -> hv.Bars:
    """Bars of each candidate's series reduction (% of the baseline's active series)."""
    return _bars(outcomes, "series reduction (%)", "Series reduction (% of the baseline's)",
                 "#59a14f")  # fmt: skip


def savings_chart(outcomes: pd.DataFrame) -> hv.Overlay:
    """Bars of each candidate's monthly savings, with their interval as whiskers."""
    currency = "/".join(sorted({c for c in outcomes["currency"] if c})) or "currency"
    label = f"Savings per month ({currency})"
    shown = outcomes.dropna(subset=["savings / month"]).copy()
    shown["bar"] = shown["experiment"] + " · " + shown["candidate"]
    shown["below"] = (shown["savings / month"] - shown["savings low"]).fillna(0).clip(lower=0)
    shown["above"] = (shown["savings high"] - shown["savings / month"]).fillna(0).clip(lower=0)
    whiskers = hv.ErrorBars(shown, kdims=["bar"], vdims=["savings / month", "below", "above"])
    return _bars(outcomes, "savings / month", label, "#4c78a8") * whiskers.opts(
        line_width=2, color="#222"
    )
