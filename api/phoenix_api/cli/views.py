"""How ``phoenix experiment show``, ``… watch`` and ``… dry-run`` put an experiment in words:
pure functions of the API's answers, so that they are tested without a server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Waiting", "dry_run_lines", "experiment_lines", "task_line"]

SERIES_KPI = "active_series"


def experiment_lines(experiment: dict[str, Any], kpis: dict[str, Any] | None) -> list[str]:
    """One experiment: name, state and why, hosts, and per variant its role, template and
    (once analysed: ``kpis`` is ``GET …/kpis``) the series it delivered."""
    spec = experiment["spec"]
    lines = [
        f"Experiment {experiment['id']}: {spec['name']}",
        f"State:      {experiment['state']} since {_when(experiment['state_changed_at'])} UTC",
    ]
    if experiment.get("failure_reason"):
        lines.append(f"  because:  {experiment['failure_reason']}")
    if experiment.get("verdict"):
        lines.append(f"Verdict:    {experiment['verdict']}")
        lines += [f"  - {reason}" for reason in experiment.get("verdict_reasons") or []]
    lines.append(f"Collector:  {spec['collector']}, for {spec['duration_seconds']:g} s")
    lines.append(f"Hosts:      {_hosts(spec, kpis)}")
    series = _series(kpis)
    header = f"{'VARIANT':<16} {'ROLE':<10} {'TEMPLATE':<28}"
    lines += ["", header + (" SERIES (measured, over its hosts)" if kpis else "")]
    for variant in spec["variants"]:
        line = f"{variant['name']:<16} {variant['role']:<10} {_template(variant):<28}"
        if kpis is not None:
            line += f" {series.get(variant['name'], 'no data')}"
        lines.append(line.rstrip())
    if kpis is None:
        lines += ["", "(series per variant once analysed: phoenix experiment report ID)"]
    return lines


def _when(stamp: str) -> str:
    return stamp[:19].replace("T", " ")


def _hosts(spec: dict[str, Any], kpis: dict[str, Any] | None) -> str:
    measured = sorted(
        {row["host"] for row in (kpis or {}).get("kpis", []) if row["host"] not in (None, "*")}
    )
    if measured:
        return ", ".join(measured)
    if spec.get("hosts"):
        return ", ".join(spec["hosts"])
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("host_selector") or {}).items()))
    return f"those labelled {selector}"


def _template(variant: dict[str, Any]) -> str:
    name = str(variant["template"])
    if variant.get("template_version"):
        name += f" v{variant['template_version']}"
    variables = variant.get("variables") or {}
    if variables:
        shown = " ".join(f"{k}={_value(v)}" for k, v in sorted(variables.items()))
        name += f" {shown}"
    return name


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def _series(kpis: dict[str, Any] | None) -> dict[str, str]:
    """Per variant, the series it delivered over its hosts (and a candidate's change)."""
    found = {}
    for row in (kpis or {}).get("kpis", []):
        if row["kpi"] != SERIES_KPI or row["host"] is not None:
            continue
        if row["value"] is None:
            found[row["variant"]] = "no data"
            continue
        text = f"{row['value']:,.0f}"
        if row.get("change_percent") is not None:
            text += f" ({row['change_percent']:+.1f}% against the baseline)"
        found[row["variant"]] = text
    return found


def dry_run_lines(answer: dict[str, Any]) -> list[str]:
    """A dry run (``POST …/dry-run``): each collector a start would deploy, each variant's
    forecast series under what it is based on, and the warnings."""
    lines = [f"{'HOST':<24} {'VARIANT':<16} {'COLLECTOR':<17} {'CONFIG':<14} WAITS FOR VALUES"]
    for p in answer["plans"]:
        waits = "yes" if p["needs_reference"] else "no"
        lines.append(
            f"{p['host']:<24} {p['variant']:<16} {p['collector']:<17} "
            f"{p['config_sha256'][:12]:<14} {waits}"
        )
    groups: dict[tuple[str | None, str], list[dict[str, Any]]] = {}
    for row in answer["forecast"]:
        groups.setdefault((row["host"], row["based_on"]), []).append(row)
    for (host, based_on), rows in groups.items():
        where = f"on host {host}" if host else "on each host"
        lines += [
            "",
            f"Forecast {where}, in {rows[0]['unit']}, by the forecast simulator",
            f"  based on {based_on}",
            f"{'VARIANT':<16} {'ROLE':<10} {'SERIES IN':>10} {'SERIES OUT':>11} {'CHANGE':>8}",
        ]
        for row in rows:
            change = row["change_percent"]
            shown = "" if change is None else f"{change:+.1f}%"
            line = (
                f"{row['variant']:<16} {row['role']:<10} {row['series_in']:>10,} "
                f"{row['series_out']:>11,} {shown:>8}"
            )
            lines.append(line.rstrip())
    lines += ["", "Warnings:" if answer["warnings"] else "No warnings."]
    lines += [f"  - {warning['message']}" for warning in answer["warnings"]]
    return lines


def task_line(detail: dict[str, Any]) -> str:
    """A live task notice: whose task (variant, host), what it does, and how it went."""
    who = " on ".join(str(detail[k]) for k in ("variant", "host") if detail.get(k))
    line = (
        f"{who + ': ' if who else ''}{detail.get('type')}/{detail.get('action')}"
        f" attempt {detail.get('attempt')}: {detail.get('status')}"
    )
    return f"{line}  ({detail['error_message']})" if detail.get("error_message") else line


def event_line(kind: str, detail: dict[str, Any]) -> str:
    """An audit event of an experiment in words: a state change (with its reason), what a
    variant waits for, a keep-list refresh, a recomputed verdict."""
    if kind == "deploy_waiting":
        line = f"{detail['variant']} on {detail['host']} waits: {detail['waiting_for']}"
    elif kind == "config_refreshed":
        line = (
            f"{detail['variant']} on {detail['host']}: its config changed at a refresh "
            f"({str(detail['previous_config_sha256'])[:12]} -> "
            f"{str(detail['config_sha256'])[:12]}), reloading"
        )
    elif kind == "experiment_analysed":
        line = f"verdict {detail['verdict']}, recomputed from {detail['source']}"
    elif "to" in detail:
        line = f"{detail.get('from')} -> {detail['to']}"
    else:
        line = ""
    return f"{line}  ({detail['reason']})" if detail.get("reason") else line


@dataclass
class Waiting:
    """What a deploying experiment waits for, as its events tell it: a variant on a host waits
    for a value (``deploy_waiting``) or for its collector to start (a start task not yet
    succeeded). ``update`` answers a line to print when that changes, else None."""

    pending: dict[tuple[str, str], str] = field(default_factory=dict)
    shown: str = ""
    deploying: bool = True  # until a state change says otherwise (reloads while running)

    def update(self, kind: str, detail: dict[str, Any]) -> str | None:
        if kind == "experiment_state_changed":
            self.deploying = detail.get("to") == "deploying"
        if not self.deploying:
            self.pending.clear()
            self.shown = ""
            return None
        if kind == "deploy_waiting":
            self.pending[(detail["variant"], detail["host"])] = detail["waiting_for"]
        elif kind == "task_updated" and detail.get("variant") and detail.get("host"):
            key = (detail["variant"], detail["host"])
            if detail.get("action") in ("start", "reload"):
                if detail.get("status") == "succeeded":
                    self.pending.pop(key, None)
                else:
                    self.pending[key] = f"its collector to start ({detail.get('status')})"
        else:
            return None
        text = "; ".join(f"{v} on {h}: {why}" for (v, h), why in sorted(self.pending.items()))
        if text == self.shown:
            return None
        self.shown = text
        return f"waiting for: {text}" if text else "waiting for nothing more"
