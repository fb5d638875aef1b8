"""The Fleet page's tables, from what ``GET /api/v1/hosts`` and ``GET /api/v1/collectors``
answer: lists of records in, DataFrames out, no I/O (``pn.bind`` binds them to the page).

A host needs attention when its agent is offline, when one of its collectors crash-loops, or
when its agent says it is degraded or unhealthy; ``host_row_style`` makes such rows stand out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from phoenix_dashboards.formatting import age, parse_time, timestamp

__all__ = [
    "HOST_COLUMNS",
    "collector_row_style",
    "collectors_table",
    "filter_hosts",
    "fleet_summary",
    "fleet_table",
    "host_row_style",
]

HOST_COLUMNS = [
    "host",
    "status",
    "attention",
    "labels",
    "last heartbeat",
    "age",
    "agent",
    "CPU (%)",
    "memory (%)",
]
COLLECTOR_COLUMNS = [
    "host",
    "experiment",
    "variant",
    "collector",
    "status",
    "restarts",
    "last report age",
]
_BAD_COLLECTOR = {"crash_looping", "failed", "gone"}
_OFFLINE = "background-color: #fdecea; color: #8a1c13"
_WARNING = "background-color: #fff4e5; color: #663c00"


def fleet_table(
    hosts: Sequence[dict[str, Any]], collectors: Sequence[dict[str, Any]], now: datetime
) -> pd.DataFrame:
    """One row per host: its status, what needs attention, labels, last heartbeat and its age
    at ``now``, agent version, host CPU and memory use at that heartbeat."""
    crash_looping: dict[str, int] = {}
    for collector in collectors:
        host_id = str(collector["host_id"])
        if collector["status"] == "crash_looping":
            crash_looping[host_id] = crash_looping.get(host_id, 0) + 1
    rows = []
    for host in hosts:
        usage = host.get("resource_usage") or {}
        beat = parse_time(host.get("last_heartbeat"))
        rows.append(
            {
                "host": host["hostname"],
                "status": host["status"],
                "attention": _attention(host["status"], crash_looping.get(str(host["id"]), 0)),
                "labels": ", ".join(f"{k}={v}" for k, v in sorted(host["labels"].items())),
                "last heartbeat": timestamp(beat),
                "age": age(beat, now),
                "agent": host.get("agent_version") or "",
                "CPU (%)": usage.get("cpu_percent"),
                "memory (%)": usage.get("memory_percent"),
            }
        )
    return pd.DataFrame(rows, columns=HOST_COLUMNS)


def _attention(status: str, crash_looping: int) -> str:
    if status == "offline":
        return "offline"
    if crash_looping:
        return f"crash-looping collector ({crash_looping})"
    if status in ("degraded", "unhealthy"):
        return status
    return ""


def filter_hosts(table: pd.DataFrame, attention_only: bool, text: str) -> pd.DataFrame:
    """The rows that need attention (if asked), whose host or labels contain ``text``."""
    keep = pd.Series(True, index=table.index)
    if attention_only:
        keep &= table["attention"] != ""
    if text.strip():
        needle = text.strip().lower()
        keep &= table["host"].str.lower().str.contains(needle, regex=False) | table[
            "labels"
        ].str.lower().str.contains(needle, regex=False)
    return table[keep].reset_index(drop=True)


def collectors_table(collectors: Sequence[dict[str, Any]], now: datetime) -> pd.DataFrame:
    """One row per collector: host, experiment, variant, kind, status, restarts, and how long
    ago its agent last reported it."""
    rows = [
        {
            "host": c["hostname"],
            "experiment": c["experiment_name"],
            "variant": c["variant"],
            "collector": c["collector"],
            "status": c["status"],
            "restarts": c["restarts"],
            "last report age": age(parse_time(c["updated_at"]), now),
        }
        for c in collectors
    ]
    return pd.DataFrame(rows, columns=COLLECTOR_COLUMNS)


def fleet_summary(hosts: pd.DataFrame, collectors: pd.DataFrame) -> str:
    """One line: hosts online and offline, hosts needing attention, collectors crash-looping."""
    offline = int((hosts["status"] == "offline").sum())
    attention = int((hosts["attention"] != "").sum())
    looping = int((collectors["status"] == "crash_looping").sum())
    return (
        f"{len(hosts)} hosts: {len(hosts) - offline} online, {offline} offline; "
        f"{attention} need attention; {len(collectors)} collectors, {looping} crash-looping"
    )


def host_row_style(row: pd.Series) -> list[str]:
    """CSS for each cell of a host's row: offline in red, other trouble in amber."""
    if row["attention"] == "offline":
        css = _OFFLINE
    elif row["attention"]:
        css = _WARNING
    else:
        css = ""
    return [css] * len(row)


def collector_row_style(row: pd.Series) -> list[str]:
    """CSS for each cell of a collector's row: crash-looping, failed or gone in red."""
    return [_OFFLINE if row["status"] in _BAD_COLLECTOR else ""] * len(row)
