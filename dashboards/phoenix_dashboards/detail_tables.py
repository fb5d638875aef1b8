"""The Experiment detail page's data, shaped from what the API answers (``…/kpis?samples=true``,
``…/verdict``, ``…/guardrail``, ``…/cost``, ``…/events``, ``/whoami``): records in, DataFrames
out, no I/O, so that every figure the page shows is tested without a browser.

The KPI series: each host's raw samples (``details.samples``: ``t`` epoch seconds, ``v``) of
every variant; aggregated per variant by the median over its hosts at each step (hosts scrape
at their own offsets, so a timestamp is floored to the series' step first), or kept per host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from phoenix_dashboards.formatting import parse_time, timestamp

__all__ = [
    "ACTIONS",
    "COST_COLUMNS",
    "EVENT_COLUMNS",
    "GUARDRAIL_COLUMNS",
    "HOST_BALANCE",
    "SAMPLE_COLUMNS",
    "SCORECARD_COLUMNS",
    "Actions",
    "actions",
    "cost_caption",
    "cost_table",
    "events_table",
    "gate_threshold",
    "guardrail_summary",
    "guardrail_table",
    "host_balance_table",
    "kpi_samples",
    "kpi_series",
    "kpi_units",
    "scorecard",
    "verdict_words",
]

HOST_BALANCE = "host_balance"
SAMPLE_COLUMNS = ["kpi", "unit", "variant", "host", "t", "v"]
SCORECARD_COLUMNS = ["candidate", "kpi", "unit", "change", "low", "high", "p_value",
                     "outcome", "threshold", "reason", "query"]  # fmt: skip
GUARDRAIL_COLUMNS = ["candidate", "subject", "outcome", "finding", "scoped_query"]
EVENT_COLUMNS = ["time", "type", "actor", "summary"]
COST_COLUMNS = ["variant", "role", "monthly", "monthly_low", "monthly_high", "yearly",
                "savings_monthly", "savings_low", "savings_high", "savings_yearly"]  # fmt: skip
ACTIONS = ("start", "stop", "analyse")
_STARTABLE = frozenset({"draft"})
_STOPPABLE = frozenset({"scheduled", "deploying", "warming_up", "running"})
_ANALYSABLE = frozenset({"completed"})


# --- the KPI series ------------------------------------------------------------------------


def kpi_samples(kpis: Mapping[str, Any]) -> pd.DataFrame:
    """Every host's raw samples of every KPI and variant, long: kpi, unit, variant, host,
    t (UTC), v; sorted by KPI, variant, host and time. Rows without samples add nothing."""
    frames = []
    for row in kpis.get("kpis", []):
        samples = (row.get("details") or {}).get("samples")
        if row["host"] is None or not samples or not samples.get("t"):
            continue
        frames.append(
            pd.DataFrame(
                {
                    "kpi": row["kpi"],
                    "unit": row["unit"],
                    "variant": row["variant"],
                    "host": row["host"],
                    "t": pd.to_datetime(np.asarray(samples["t"], dtype=float), unit="s", utc=True),
                    "v": np.asarray(samples["v"], dtype=float),
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SAMPLE_COLUMNS})
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["kpi", "variant", "host", "t"], kind="stable", ignore_index=True)


def kpi_units(samples: pd.DataFrame) -> dict[str, str]:
    """Each KPI's unit, in the samples' KPI order."""
    first = samples.drop_duplicates("kpi")  # (one row a KPI: not 160,000 pairs zipped)
    return dict(zip(first["kpi"], first["unit"], strict=True))


def kpi_series(samples: pd.DataFrame, per_host: bool = False) -> pd.DataFrame:
    """One line per plotted series: kpi, series (the variant, or ``variant @ host``), t, v.
    Per variant, the median over its hosts at each step (the KPI's most common sampling
    interval): one host's series is its own samples, unchanged."""
    columns = ["kpi", "series", "t", "v"]
    if samples.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    if per_host:
        out = samples.assign(series=samples["variant"] + " @ " + samples["host"])
        return out[columns].reset_index(drop=True)
    parts = []
    for kpi, group in samples.groupby("kpi", sort=False):
        if group["host"].nunique() <= 1 or group.groupby("variant")["host"].nunique().max() <= 1:
            parts.append(group.assign(series=group["variant"])[columns])
            continue
        step = _step(group)
        seconds = group["t"].astype("int64") // 10**9
        bucket = pd.to_datetime((seconds // step) * step, unit="s", utc=True)
        median = (
            group.assign(t=bucket)
            .groupby(["variant", "t"], sort=True)["v"]
            .median()
            .reset_index()
            .rename(columns={"variant": "series"})
        )
        parts.append(median.assign(kpi=kpi)[columns])
    return pd.concat(parts, ignore_index=True)


def _step(group: pd.DataFrame) -> int:
    """The most common interval between a host's consecutive samples (whole seconds, ≥ 1)."""
    seconds = group["t"].astype("int64") // 10**9
    gaps = seconds.groupby([group["variant"], group["host"]]).diff().dropna()
    gaps = gaps[gaps > 0]
    return max(1, int(gaps.mode().iloc[0])) if not gaps.empty else 1


# --- the scorecard and the verdict ----------------------------------------------------------


def gate_threshold(gate: Mapping[str, Any] | None) -> float | None:
    """The change (%) a gate's relative bound puts its line at: ``min_improvement`` is at most
    -g % for a lower-is-better KPI (+g % for higher), ``max_worsening`` at most +w % (-w %);
    None for a gate without a relative bound (absolute bounds are not a change)."""
    if not gate:
        return None
    sign = -1.0 if gate.get("direction", "lower") == "lower" else 1.0
    if gate.get("min_improvement") is not None:
        return sign * float(gate["min_improvement"]) * 100
    if gate.get("max_worsening") is not None:
        return -sign * float(gate["max_worsening"]) * 100
    return None


def scorecard(verdict: Mapping[str, Any]) -> pd.DataFrame:
    """One row per candidate and KPI the verdict compared (host null, a change given or
    not): its change and 95 % interval (%), p-value, the gate's outcome and reason, the gate's
    line (%) and the query it was measured by."""
    gates = {g["kpi"]: g for g in verdict.get("gates", [])}
    candidates = {c["variant"] for c in verdict.get("candidates", [])}
    rows = []
    for row in verdict.get("comparisons", []):
        details = row.get("details") or {}
        if row["host"] is not None or details.get("role") == "baseline":
            continue
        if candidates and row["variant"] not in candidates:
            continue
        rows.append(
            {
                "candidate": row["variant"],
                "kpi": row["kpi"],
                "unit": row["unit"],
                "change": row["change_percent"],
                "low": row["ci_low"],
                "high": row["ci_high"],
                "p_value": row["p_value"],
                "outcome": details.get("outcome") or "",
                "threshold": gate_threshold(gates.get(row["kpi"])),
                "reason": details.get("reason") or "",
                "query": row["query"],
            }
        )
    frame = pd.DataFrame(rows, columns=SCORECARD_COLUMNS)
    for column in ("change", "low", "high", "p_value", "threshold"):
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    return frame


def verdict_words(verdict: Mapping[str, Any]) -> str:
    """The verdict in Markdown: outcome and winner, its reasons, each candidate's outcome,
    reasons and notes, what had no data, and the window it judged."""
    winner = verdict.get("winner")
    lines = [
        f"### Verdict: **{verdict['outcome']}**"
        + (f" · winner **{winner}**" if winner else " · no winner"),
    ]
    lines += [f"- {reason}" for reason in verdict.get("reasons", [])]
    for candidate in verdict.get("candidates", []):
        lines.append(f"\n**{candidate['variant']}**: {candidate.get('outcome', '')}")
        lines += [f"- {reason}" for reason in candidate.get("reasons", [])]
        lines += [f"- *note:* {note}" for note in candidate.get("notes", [])]
    missing = verdict.get("missing") or []
    if missing:
        said = ", ".join(
            "/".join(str(m[k]) for k in ("kpi", "variant", "host") if m.get(k)) for m in missing
        )
        lines.append(f"\n**Without data:** {said}")
    window = _window(verdict)
    if window:
        lines.append(f"\n*Measured {window}; computed by {verdict.get('computed_by', '?')}.*")
    return "\n".join(lines)


def _window(answer: Mapping[str, Any]) -> str:
    start, end = answer.get("window_start"), answer.get("window_end")
    if not start or not end:
        return ""
    return f"from {timestamp(parse_time(start))} to {timestamp(parse_time(end))}"


# --- host balance, guardrail, events --------------------------------------------------------


def host_balance_table(kpis: Mapping[str, Any]) -> pd.DataFrame:
    """The ``host_balance`` rows: per variant and host, the share (%) of the assigned hosts
    where it delivered series, or why it has none."""
    rows = [
        {
            "variant": row["variant"],
            "host": row["host"] if row["host"] is not None else "all (judged)",
            "value": row["value"],
            "unit": row["unit"],
            "note": (row.get("details") or {}).get("missing", ""),
        }
        for row in kpis.get("kpis", [])
        if row["kpi"] == HOST_BALANCE
    ]
    frame = pd.DataFrame(rows, columns=["variant", "host", "value", "unit", "note"])
    frame["value"] = pd.to_numeric(frame["value"]).astype(float)
    return frame


def guardrail_summary(report: Mapping[str, Any]) -> str:
    """Per candidate, its preserved queries (%), its outcome and the counts, in Markdown."""
    if not report.get("judged", True):
        return "The experiment names no usage sources: no query was checked."
    lines = []
    for c in report.get("candidates", []):
        share = c.get("queries_preserved")
        preserved = "no query could be compared" if share is None else f"{share:.1f} % preserved"
        counts = ", ".join(f"{n} {k}" for k, n in sorted(c.get("counts", {}).items()) if n)
        lines.append(
            f"- **{c['candidate']}**: {preserved} · outcome {c.get('outcome') or '–'}"
            + (f" · {counts}" if counts else "")
        )
        lines += [f"    - would lose: {lost}" for lost in c.get("lost", [])]
    return "\n".join(lines)


def guardrail_table(report: Mapping[str, Any]) -> pd.DataFrame:
    """Every query of every candidate: who reads it, its outcome, the finding, the query as
    evaluated for the candidate."""
    rows = [
        {
            "candidate": c["candidate"],
            "subject": q["subject"],
            "outcome": q["outcome"],
            "finding": q["finding"],
            "scoped_query": q.get("scoped_query") or q.get("query") or "",
        }
        for c in report.get("candidates", [])
        for q in c.get("queries", [])
    ]
    return pd.DataFrame(rows, columns=GUARDRAIL_COLUMNS)


def events_table(events: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The events, newest first: time, type, actor, and their data in one line."""
    rows = [
        {
            "time": timestamp(parse_time(e["created_at"])),
            "type": e["type"],
            "actor": e["actor"],
            "summary": _summary(e.get("data") or {}),
        }
        for e in reversed(list(events))
    ]
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def _summary(data: Mapping[str, Any]) -> str:
    parts = []
    for key, value in data.items():
        text = value if isinstance(value, str) else repr(value)
        parts.append(f"{key}: {text if len(text) <= 80 else text[:77] + '…'}")
    return "; ".join(parts)


# --- cost ------------------------------------------------------------------------------------


def _amount(amount: Mapping[str, Any] | None, key: str = "value") -> float | None:
    return None if amount is None else amount.get(key)


def cost_table(cost: Mapping[str, Any]) -> pd.DataFrame:
    """Per variant: projected cost per month (with its interval) and per year, and each
    candidate's savings per month (with its interval) and per year, in the book's currency."""
    rows = [
        {
            "variant": v["variant"],
            "role": v["role"],
            "monthly": _amount(v.get("monthly")),
            "monthly_low": _amount(v.get("monthly"), "low"),
            "monthly_high": _amount(v.get("monthly"), "high"),
            "yearly": _amount(v.get("yearly")),
            "savings_monthly": _amount(v.get("savings_monthly")),
            "savings_low": _amount(v.get("savings_monthly"), "low"),
            "savings_high": _amount(v.get("savings_monthly"), "high"),
            "savings_yearly": _amount(v.get("savings_yearly")),
        }
        for v in cost.get("variants", [])
    ]
    frame = pd.DataFrame(rows, columns=COST_COLUMNS)
    for column in COST_COLUMNS[2:]:
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    return frame


def cost_caption(cost: Mapping[str, Any]) -> str:
    """Which book, meter and currency, on how many hosts, and where the prices come from."""
    if not cost:
        return ""
    interval = cost.get("scrape_interval_seconds")
    return (
        f"**{cost['price_book']}** ({cost.get('vendor', '')}, per {cost.get('meter', '')}) · "
        f"in **{cost['currency']}** · on **{cost['fleet_hosts']:,}** hosts"
        + (f" · scraped every {interval:g} s" if interval else "")
        + f" · prices from {cost.get('source', '?')}, read {cost.get('taken', '?')}"
        + (f"\n\n{cost['note']}" if cost.get("note") else "")
    )


# --- actions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actions:
    """Which buttons a caller sees (``shown``: may use operator routes) and which are live."""

    shown: bool
    start: bool
    stop: bool
    analyse: bool


def actions(may: Sequence[str], state: str) -> Actions:
    """Start a draft, stop a scheduled or collecting one, re-analyse a completed one; all
    three only for a caller whose ``whoami.may`` includes ``operator``."""
    if "operator" not in may:
        return Actions(shown=False, start=False, stop=False, analyse=False)
    return Actions(
        shown=True,
        start=state in _STARTABLE,
        stop=state in _STOPPABLE,
        analyse=state in _ANALYSABLE,
    )
