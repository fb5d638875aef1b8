"""An experiment's report as people read it: the verdict and its reasons, the KPI table with
intervals, and the cost under a price book. ``phoenix experiment report``, ``… watch`` and the
demo print it; every figure comes from the API (``…/verdict``, ``…/cost``), with its unit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from phoenix_core.client import PhoenixClient

__all__ = ["DEFAULT_FLEET_HOSTS", "Report", "fetch_report", "report_lines"]

DEFAULT_FLEET_HOSTS = 100
"""The fleet the CLI projects costs on unless told another (``--fleet-hosts``)."""


@dataclass(frozen=True)
class Report:
    verdict: dict[str, Any]
    cost: dict[str, Any] | None
    cost_problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "cost": self.cost, "cost_problem": self.cost_problem}


def fetch_report(
    client: PhoenixClient,
    experiment_id: str,
    *,
    price_book: str | None,
    fleet_hosts: int,
    scrape_interval_seconds: float | None = None,
) -> Report:
    """The verdict and the cost; a cost the API cannot give is reported, not fatal."""
    from phoenix_core.errors import NotFound

    verdict = client.verdict(experiment_id)
    try:
        cost = client.cost(
            experiment_id,
            fleet_hosts=fleet_hosts,
            price_book=price_book,
            scrape_interval_seconds=scrape_interval_seconds,
        )
    except NotFound as exc:  # an unknown price book: the verdict still stands
        return Report(verdict, None, str(exc))
    return Report(verdict, cost)


def report_lines(report: Report) -> list[str]:
    verdict = report.verdict
    lines = [_headline(verdict), *_window(verdict), ""]
    lines += _kpi_table(verdict)
    lines += ["", "Reasons:"]
    lines += [f"  - {reason}" for reason in verdict["reasons"]]
    for candidate in verdict["candidates"]:
        for note in candidate["notes"]:
            lines.append(f"  - {candidate['variant']} (note): {note}")
    if verdict["missing"]:
        lines += ["", "No data (never counted as zero):"]
        lines += [
            f"  - {m['kpi']} of {m['variant']} on {m['host']}: {m['reason']}"
            for m in verdict["missing"]
        ]
    lines.append("")
    if report.cost is not None:
        lines += _cost_table(report.cost)
    else:
        lines.append(f"Cost: not computed ({report.cost_problem}).")
    return lines


def _headline(verdict: dict[str, Any]) -> str:
    winner = f", winner {verdict['winner']}" if verdict["winner"] else ""
    return f"Verdict: {verdict['outcome'].upper()}{winner}"


def _window(verdict: dict[str, Any]) -> list[str]:
    start = datetime.fromisoformat(verdict["window_start"])
    end = datetime.fromisoformat(verdict["window_end"])
    seconds = (end - start).total_seconds()
    lines = [
        f"Window: {start:%Y-%m-%d %H:%M:%S} to {end:%H:%M:%S} UTC ({seconds:g} s), samples from"
        f" {verdict['source']}, analysed {verdict['computed_at'][:19].replace('T', ' ')} UTC"
    ]
    if verdict["winner"]:
        lines.append(f"Winner rule: {verdict['winner_rule']}")
    return lines


def _kpi_table(verdict: dict[str, Any]) -> list[str]:
    header = (
        f"{'KPI':<24} {'UNIT':<9} {'VARIANT':<12} {'BASELINE':>12} {'CANDIDATE':>12} {'CHANGE':>8}"
        f" {'95% INTERVAL':>19} {'HOLM P':>8}  {'N':>7}  OUTCOME"
    )
    lines = [header]
    baseline: dict[str, dict[str, Any]] = {}
    for row in verdict["comparisons"]:
        if row["details"].get("role") == "baseline":
            baseline[row["kpi"]] = row
            continue
        base = baseline.get(row["kpi"], {})
        d = row["details"]
        unit = row["unit"]
        interval = (
            f"{_pct(row['ci_low'])} to {_pct(row['ci_high'])}"
            if row["ci_low"] is not None and row["ci_high"] is not None
            else "-"
        )
        counts = f"{d.get('n_baseline', 0)}/{d.get('n_candidate', 0)}"
        lines.append(
            f"{row['kpi']:<24} {unit:<9} {row['variant']:<12} {_num(base.get('value'), unit):>12}"
            f" {_num(row['value'], unit):>12} {_pct(row['change_percent']):>8} {interval:>19}"
            f" {_p(d.get('p_holm')):>8}  {counts:>7}  {d.get('outcome', '-')}"
        )
    lines.append(
        "(BASELINE, CANDIDATE: the median over the window, the mean for counts of lost samples;"
        " CHANGE: against the baseline, with its bootstrap interval; N: samples per side)"
    )
    return lines


def _cost_table(cost: dict[str, Any]) -> list[str]:
    currency = cost["currency"]
    interval = (
        f"at a {cost['scrape_interval_seconds']:g} s scrape interval"
        if cost["scrape_interval_seconds"]
        else "at the experiment's scrape interval"
    )
    lines = [
        f"Cost under {cost['price_book']} ({cost['vendor']}, billed on {cost['meter']}; figures"
        f" taken {cost['taken']} from {cost['source']}),",
        f"projected on {cost['fleet_hosts']:,} hosts {interval}, in {currency}:",
        f"{'VARIANT':<12} {'PER MONTH':>12} {'SAVES PER MONTH':>16} {'95% INTERVAL':>27}"
        f" {'SAVES PER YEAR':>15}",
    ]
    for v in cost["variants"]:
        saves = v["savings_monthly"] or {}
        yearly = v["savings_yearly"] or {}
        interval_text = (
            f"{_money(saves.get('low'))} to {_money(saves.get('high'))}" if saves else "-"
        )
        lines.append(
            f"{v['variant']:<12} {_money(v['monthly']['value']):>12}"
            f" {_money(saves.get('value')) if saves else '-':>16} {interval_text:>27}"
            f" {_money(yearly.get('value')) if yearly else '-':>15}"
        )
    if cost["note"]:
        lines.append(f"Note on the price book: {cost['note']}")
    return lines


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit in {"bytes", "bytes/s"}:
        for size, name in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= size:
                return f"{value / size:.3g}{name}"
    return f"{value:.4g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"


def _p(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return "<1e-16" if value < 1e-16 else f"{value:.2g}"


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"
