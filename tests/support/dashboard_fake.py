"""An in-memory ``DashboardClient`` for the dashboards' unit tests (only there: the browser
tests read a real API), and builders of the records the API answers with."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from phoenix_core.errors import Conflict, NotFound, PhoenixError

__all__ = ["NOW", "PANEL_PANDAS_WARNING", "FakeClient", "collector", "cost", "host", "summary",
           "verdict"]  # fmt: skip

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
PANEL_PANDAS_WARNING = "ignore:The inplace keyword in DataFrame.reset_index:DeprecationWarning"
"""Panel 1.9's Tabulator calls ``reset_index(inplace=True)``, which pandas 3.1 deprecates (a
``DeprecationWarning``: Python's default filters hide it in the servers; the suite makes
warnings errors)."""


def host(
    name: str,
    status: str = "healthy",
    *,
    labels: dict[str, str] | None = None,
    beat_seconds_ago: float | None = 5,
    cpu: float | None = 12.5,
    memory: float = 40.0,
    version: str = "0.1.0",
) -> dict[str, Any]:
    """A host as ``GET /api/v1/hosts`` lists it."""
    beat = None if beat_seconds_ago is None else NOW - timedelta(seconds=beat_seconds_ago)
    usage = None if cpu is None else {"cpu_percent": cpu, "memory_percent": memory,
                                      "memory_bytes": 2**30, "disk_percent": 50.0}  # fmt: skip
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
        "hostname": name,
        "ip_address": None,
        "labels": labels or {},
        "agent_version": version,
        "status": status,
        "capabilities": {},
        "resource_usage": usage,
        "started_at": None,
        "registered_at": (NOW - timedelta(days=1)).isoformat(),
        "last_heartbeat": beat.isoformat() if beat else None,
        "decommissioned_at": None,
    }


def collector(
    on: dict[str, Any], variant: str, status: str = "running", restarts: int = 0
) -> dict[str, Any]:
    """A collector as ``GET /api/v1/collectors`` lists it, on host ``on``."""
    return {
        "host_id": on["id"],
        "hostname": on["hostname"],
        "experiment_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, "exp")),
        "experiment_name": "top-k vs baseline",
        "experiment_state": "running",
        "variant": variant,
        "collector": "prometheus-agent",
        "status": status,
        "restarts": restarts,
        "updated_at": (NOW - timedelta(seconds=3)).isoformat(),
    }


def summary(
    name: str,
    state: str = "draft",
    result: str | None = None,
    *,
    minutes_ago: int = 0,
    variants: Sequence[str] = ("baseline", "slim"),
) -> dict[str, Any]:
    """An experiment as ``GET /api/v1/experiments`` lists it."""
    created = (NOW - timedelta(minutes=minutes_ago)).isoformat()
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
        "name": name,
        "state": state,
        "collector": "prometheus-agent",
        "variants": list(variants),
        "version": 1,
        "verdict": result,
        "failure_reason": None,
        "created_by": "user:olga",
        "created_at": created,
        "updated_at": created,
        "state_changed_at": created,
        "started_at": None,
        "completed_at": None,
    }


def verdict(winner: str | None, changes: dict[str, float | None]) -> dict[str, Any]:
    """A ``GET …/verdict`` answer: the baseline's active series, each candidate's change."""
    rows = [{"variant": "baseline", "host": None, "kpi": "active_series", "value": 1000.0,
             "change_percent": None}]  # fmt: skip
    rows += [
        {"variant": v, "host": None, "kpi": "active_series", "value": 1.0, "change_percent": c}
        for v, c in changes.items()
    ]
    rows.append({"variant": "slim", "host": None, "kpi": "cpu_cores", "value": 0.1,
                 "change_percent": -99.0})  # fmt: skip
    return {
        "outcome": "pass" if winner else "fail",
        "winner": winner,
        "candidates": [{"variant": v} for v in changes],
        "comparisons": rows,
    }


def cost(savings: dict[str, float | None], currency: str = "USD") -> dict[str, Any]:
    """A ``GET …/cost`` answer (on 1 host): each candidate's monthly savings."""

    def amount(x: float) -> dict[str, float]:
        return {"value": x, "low": x * 0.9, "high": x * 1.1}

    variants = [
        {
            "variant": "baseline",
            "role": "baseline",
            "monthly": amount(10.0),
            "yearly": amount(120.0),
            "savings_monthly": None,
            "savings_yearly": None,
        }
    ]
    variants += [
        {"variant": v, "role": "candidate", "monthly": amount(10.0 - (s or 0)),
         "yearly": amount(12 * (10.0 - (s or 0))),
         "savings_monthly": None if s is None else amount(s),
         "savings_yearly": None if s is None else amount(12 * s)}
        for v, s in savings.items()
    ]  # fmt: skip
    return {"price_book": "grafana-cloud-pro", "vendor": "Grafana Labs", "meter": "series",
            "taken": "2026-11-01", "currency": currency, "fleet_hosts": 1,
            "variants": variants}  # fmt: skip


class FakeClient:
    """Answers from the records given; ``fail`` makes every call raise it. ``calls`` lists
    what was asked, as (method, arguments)."""

    base_url = "http://phoenix.test:8000"

    def __init__(
        self,
        *,
        hosts: Iterable[dict[str, Any]] = (),
        collectors: Iterable[dict[str, Any]] = (),
        experiments: Iterable[dict[str, Any]] = (),
        verdicts: dict[str, dict[str, Any]] | None = None,
        costs: dict[str, dict[str, Any]] | None = None,
        records: dict[str, dict[str, Any]] | None = None,
        kpis: dict[str, dict[str, Any]] | None = None,
        guardrails: dict[str, dict[str, Any]] | None = None,
        events: dict[str, list[dict[str, Any]]] | None = None,
        price_books: Iterable[dict[str, Any]] = (),
        inventory: dict[str, Any] | None = None,
        usage: dict[str, Any] | None = None,
        recommendations: dict[str, Any] | None = None,
        role: str = "viewer",
    ) -> None:
        self._hosts = list(hosts)
        self._collectors = list(collectors)
        self._experiments = list(experiments)  # newest first, as the API lists them
        self._verdicts = verdicts or {}
        self._costs = costs or {}
        self._records = records or {}
        self._kpis = kpis or {}
        self._guardrails = guardrails or {}
        self._events = events or {}
        self._price_books = list(price_books)
        self._inventory = inventory
        self._usage = usage
        self._recommendations = recommendations
        self.role = role
        self.drafts: list[dict[str, Any]] = []
        self.refuse: dict[str, PhoenixError] = {}
        """An action (start, stop, analyse) that raises this error instead."""
        self.fail: PhoenixError | None = None
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.closed = False

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.fail is not None:
            raise self.fail

    def hosts(self) -> list[dict[str, Any]]:
        self._call("hosts")
        return list(self._hosts)

    def collectors(self) -> list[dict[str, Any]]:
        self._call("collectors")
        return list(self._collectors)

    def experiments_page(
        self, *, state: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        self._call("experiments_page", state, limit, cursor)
        found = [e for e in self._experiments if state is None or e["state"] == state]
        start = int(cursor) if cursor else 0
        items = found[start : start + limit]
        more = start + limit < len(found)
        return {"items": items, "next_cursor": str(start + limit) if more else None}

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        self._call("experiment", experiment_id)
        if experiment_id not in self._records:
            raise NotFound("experiment", experiment_id)
        return self._records[experiment_id]

    def verdict(self, experiment_id: str) -> dict[str, Any]:
        self._call("verdict", experiment_id)
        if experiment_id not in self._verdicts:
            raise Conflict(f"Experiment {experiment_id} is not analysed yet.")
        return self._verdicts[experiment_id]

    def cost(
        self,
        experiment_id: str,
        *,
        fleet_hosts: int,
        price_book: str | None = None,
        scrape_interval_seconds: float | None = None,
    ) -> dict[str, Any]:
        self._call("cost", experiment_id, fleet_hosts, price_book, scrape_interval_seconds)
        known = {b["name"] for b in self._price_books} | {"grafana-cloud-pro"}
        if price_book is not None and price_book not in known:
            raise NotFound("price book", price_book)
        if experiment_id not in self._costs:
            raise Conflict(f"Experiment {experiment_id} is not analysed yet.")
        answer = self._costs[experiment_id]
        scaled = ("monthly", "yearly", "savings_monthly", "savings_yearly")
        variants = [
            v | {key: None if v.get(key) is None else
                 {k: x * fleet_hosts for k, x in v[key].items()} for key in scaled if key in v}
            for v in answer["variants"]
        ]  # fmt: skip
        return answer | {"variants": variants, "fleet_hosts": fleet_hosts,
                         "price_book": price_book or answer["price_book"]}  # fmt: skip

    def kpis(self, experiment_id: str, *, samples: bool = False) -> dict[str, Any]:
        self._call("kpis", experiment_id, samples)
        if experiment_id not in self._kpis:
            raise Conflict(f"Experiment {experiment_id} is not analysed yet.")
        return self._kpis[experiment_id]

    def guardrail(self, experiment_id: str) -> dict[str, Any]:
        self._call("guardrail", experiment_id)
        if experiment_id not in self._guardrails:
            raise Conflict(f"Experiment {experiment_id} is not analysed yet.")
        return self._guardrails[experiment_id]

    def events(self, experiment_id: str, after: int = 0) -> list[dict[str, Any]]:
        self._call("events", experiment_id, after)
        return [e for e in self._events.get(experiment_id, []) if e["id"] > after]

    def price_books(self) -> list[dict[str, Any]]:
        self._call("price_books")
        return list(self._price_books)

    def cardinality(
        self,
        selector: str | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        self._call("cardinality", selector, start, end, limit)
        if self._inventory is None:
            raise PhoenixError("The receiving Prometheus does not answer.")
        return self._inventory

    def usage(
        self, sources: Sequence[str] | None = None, metric: str | None = None
    ) -> dict[str, Any]:
        self._call("usage", sources, metric)
        report = self._usage or {"sources": [], "complete": True, "metrics": []}
        if metric is None:
            return report
        return report | {"metrics": [m for m in report["metrics"] if m["metric"] == metric]}

    def recommendations(
        self,
        selector: str | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
        critical_selectors: Sequence[str] | None = None,
        collector: str | None = None,
        price_book: str | None = None,
        fleet_hosts: int | None = None,
        scrape_interval_seconds: float | None = None,
        top_k: int | None = None,
    ) -> dict[str, Any]:
        self._call("recommendations", selector, price_book, fleet_hosts, collector)
        return self._recommendations or {"recommendations": [], "refusals": []}

    def experiment_from_recommendation(
        self,
        recommendation_id: str,
        *,
        hosts: Sequence[str] | None = None,
        host_selector: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        self._call("experiment_from_recommendation", recommendation_id, hosts, host_selector)
        if self.role not in ("operator", "admin"):
            raise PhoenixError("403: operators only")
        draft = {"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, recommendation_id)), "state": "draft",
                 "hosts": hosts, "host_selector": host_selector}  # fmt: skip
        self.drafts.append(draft)
        return draft

    def whoami(self) -> dict[str, Any]:
        self._call("whoami")
        ranks = ["viewer", "operator", "admin"]
        return {"name": "t", "kind": "user", "role": self.role,
                "may": ranks[: ranks.index(self.role) + 1]}  # fmt: skip

    def _action(self, name: str, experiment_id: str) -> None:
        self._call(name, experiment_id)
        if name in self.refuse:
            raise self.refuse[name]

    def start_experiment(self, experiment_id: str) -> dict[str, Any]:
        self._action("start", experiment_id)
        self._records[experiment_id] = self._records[experiment_id] | {"state": "scheduled"}
        return self._records[experiment_id]

    def stop_experiment(self, experiment_id: str) -> dict[str, Any]:
        self._action("stop", experiment_id)
        self._records[experiment_id] = self._records[experiment_id] | {"state": "stopping"}
        return self._records[experiment_id]

    def analyse(self, experiment_id: str, source: str = "stored") -> dict[str, Any]:
        self._action("analyse", experiment_id)
        answer = self._verdicts[experiment_id] | {"computed_at": NOW.isoformat()}
        self._verdicts[experiment_id] = answer
        return answer

    def close(self) -> None:
        self.closed = True
