"""The Experiments page's rows, from what ``GET /api/v1/experiments`` lists and, for each
analysed experiment shown, what its ``…/verdict`` and ``…/cost`` answer: records in,
DataFrames out, no I/O.

A row's headline candidate is the verdict's winner, else the candidate that cut the most
series; its series change is its ``active_series`` change against the baseline (the verdict's
comparison, in %), its savings the monthly savings the cost answer gives it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from phoenix_dashboards.formatting import parse_time, timestamp

__all__ = [
    "COLUMNS",
    "TITLES",
    "VERDICT_FILTERS",
    "Outcome",
    "experiment_overview",
    "experiment_row_style",
    "experiments_table",
    "headline_outcome",
    "matches",
    "savings_unit",
    "variants_table",
]

COLUMNS = [
    "id",
    "name",
    "state",
    "verdict",
    "candidate",
    "series_change",
    "savings",
    "created",
    "created_by",
]
TITLES = {
    "name": "experiment",
    "candidate": "candidate",
    "series_change": "series vs baseline (%)",
    "savings": "savings / month",
    "created": "created",
    "created_by": "by",
}
VERDICT_FILTERS = ["any", "pass", "fail", "inconclusive", "none yet"]
"""The verdict filter's choices: ``none yet`` is an experiment without a verdict."""
ACTIVE_SERIES = "active_series"
_PASSED = "background-color: #edf7ed; color: #1e4620"
_FAIL = "background-color: #fdecea; color: #8a1c13"


@dataclass(frozen=True)
class Outcome:
    """What a row shows of an analysed experiment; None where the API gave no figure."""

    candidate: str | None
    series_change_percent: float | None
    savings_per_month: float | None
    currency: str | None
    price_book: str | None


def matches(summary: Mapping[str, Any], verdict: str, text: str) -> bool:
    """Whether a listed experiment passes the verdict filter (one of ``VERDICT_FILTERS``) and
    contains ``text`` (any case) in its name, id, author, collector or a variant's name."""
    found = summary.get("verdict")
    if verdict == "none yet" and found is not None:
        return False
    if verdict not in ("any", "none yet") and found != verdict:
        return False
    needle = text.strip().lower()
    if not needle:
        return True
    haystack = [summary["name"], summary["id"], summary["created_by"], summary["collector"]]
    return any(needle in str(value).lower() for value in [*haystack, *summary["variants"]])


def headline_outcome(verdict: Mapping[str, Any], cost: Mapping[str, Any] | None) -> Outcome:
    """The headline candidate's series change (from the verdict's comparisons) and monthly
    savings (from the cost answer, if any)."""
    changes = {
        row["variant"]: row["change_percent"]
        for row in verdict["comparisons"]
        if row["kpi"] == ACTIVE_SERIES and row["host"] is None and row["change_percent"] is not None
    }
    candidate = verdict.get("winner")
    if candidate is None and changes:
        candidate = min(changes, key=lambda variant: changes[variant])
    if candidate is None:
        candidates = [c["variant"] for c in verdict.get("candidates", [])]
        candidate = candidates[0] if candidates else None
    savings = None
    if cost is not None and candidate is not None:
        for variant in cost["variants"]:
            if variant["variant"] == candidate and variant["savings_monthly"] is not None:
                savings = variant["savings_monthly"]["value"]
    return Outcome(
        candidate=candidate,
        series_change_percent=changes.get(candidate) if candidate is not None else None,
        savings_per_month=savings,
        currency=cost["currency"] if cost is not None else None,
        price_book=cost["price_book"] if cost is not None else None,
    )


def experiments_table(
    summaries: Sequence[Mapping[str, Any]], outcomes: Mapping[str, Outcome]
) -> pd.DataFrame:
    """One row per listed experiment, with its outcome where it has one."""
    rows = []
    for summary in summaries:
        outcome = outcomes.get(summary["id"])
        rows.append(
            {
                "id": summary["id"],
                "name": summary["name"],
                "state": summary["state"],
                "verdict": summary["verdict"] or "",
                "candidate": (outcome.candidate or "") if outcome else "",
                "series_change": outcome.series_change_percent if outcome else None,
                "savings": outcome.savings_per_month if outcome else None,
                "created": timestamp(parse_time(summary["created_at"])),
                "created_by": summary["created_by"],
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def savings_unit(outcomes: Mapping[str, Outcome]) -> str:
    """The savings' unit, as the caption says it: the currency the cost answers gave (the
    column's title stays the same: changing it redraws the whole table, ~0.1 s)."""
    currencies = sorted({o.currency for o in outcomes.values() if o.currency})
    return f"in {'/'.join(currencies)}" if currencies else "in the price book's currency"


def experiment_row_style(row: pd.Series) -> list[str]:
    """CSS for each cell of an experiment's row: passed in green, failed in red."""
    if row["verdict"] == "pass":
        css = _PASSED
    elif row["verdict"] == "fail" or row["state"] == "failed":
        css = _FAIL
    else:
        css = ""
    return [css] * len(row)


def experiment_overview(record: Mapping[str, Any]) -> str:
    """An experiment's record (``GET /api/v1/experiments/{id}``) in a few lines of Markdown:
    name, id, state and since when, verdict and its reasons, why it failed, where it runs
    ('' for no record yet)."""
    if not record:
        return ""
    spec = record["spec"]
    lines = [
        f"## {spec['name']}",
        f"**State:** {record['state']} since {timestamp(parse_time(record['state_changed_at']))}",
        f"**Verdict:** {record['verdict'] or 'none yet'}",
    ]
    lines += [f"- {reason}" for reason in record.get("verdict_reasons") or []]
    if record.get("failure_reason"):
        lines.append(f"**Failed because:** {record['failure_reason']}")
    hosts = spec.get("hosts") or [
        f"{k}={v}" for k, v in sorted((spec.get("host_selector") or {}).items())
    ]
    lines += [
        f"**Collector:** {spec['collector']} · **Hosts:** {', '.join(hosts) or 'none'}",
        f"**Created:** {timestamp(parse_time(record['created_at']))} by {record['created_by']}",
        f"**Id:** `{record['id']}`",
    ]
    if spec.get("description"):
        lines.append(spec["description"])
    return "\n\n".join(lines)


def variants_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """One row per variant of the experiment: name, role, template and its variables."""
    rows = [
        {
            "variant": v["name"],
            "role": v["role"],
            "template": v["template"],
            "variables": ", ".join(f"{k}={val}" for k, val in sorted(v["variables"].items())),
        }
        for v in (record["spec"]["variants"] if record else [])
    ]
    return pd.DataFrame(rows, columns=["variant", "role", "template", "variables"])
