"""Migrations upgrade data, not just empty tables: from every earlier revision, with rows in
every table it has, to head, on SQLite and PostgreSQL; the rows keep their values and the
columns added since hold their documented defaults.

A new revision adds one entry to ``REVISIONS``: rows for the tables it creates, and for each
column it adds to an older table the value new rows get and the one it gives existing rows.
The tests refuse a revision without an entry and a table or column that no entry fills.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from phoenix_core.store import migrate
from phoenix_core.store.database import make_engine
from phoenix_core.store.migrate import SchemaState, upgrade
from phoenix_core.store.tables import Base

EXPERIMENT = uuid.UUID("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")
HOST = uuid.UUID("0b7e3c1a-9d2f-4e8b-a6c5-1f2e3d4c5b6a")
T0 = datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5, microseconds=1)


@dataclass(frozen=True)
class Added:
    """A column a revision adds to an older table: what a row written since holds, and what
    the migration gives the rows already there (the documented default)."""

    value: Any
    existing_rows: Any = None


@dataclass(frozen=True)
class Revision:
    """What a revision brings: representative rows of the tables it creates (autoincrement
    ids left out), and the columns it adds to older tables."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    columns: dict[str, dict[str, Added]] = field(default_factory=dict)


REVISIONS: dict[str, Revision] = {
    "0001": Revision(
        tables={
            "events": [
                {
                    "experiment_id": EXPERIMENT,
                    "host_id": None,
                    "type": "experiment_state_changed",
                    "actor": "user:olga",
                    "data": {"from": "draft", "to": "scheduled", "why": ["a", 1, None, 2.5]},
                    "created_at": T0,
                },
                {
                    "experiment_id": None,
                    "host_id": HOST,
                    "type": "host_status_changed",
                    "actor": "agent:web-1",
                    "data": {},
                    "created_at": T1,
                },
            ],
            "experiments": [
                {
                    "id": EXPERIMENT,
                    "name": "drop pid, keep top 20 processes",
                    "description": "Does top-k save enough? ünïcode ✓",
                    "state": "completed",
                    "verdict": "adopt",
                    "verdict_reasons": ["topk20 saves 41% of series"],
                    "failure_reason": None,
                    "collector": "prometheus-agent",
                    "hosts": ["web-1"],
                    "host_selector": {"env": "staging", "role": "web"},
                    "sources": [{"name": "app", "kind": "scrape", "address": "127.0.0.1:9100"}],
                    "sink": {
                        "kind": "prometheus-remote-write",
                        "url": "http://p:9090/api/v1/write",
                    },
                    "load_profile": {"name": "high-cardinality", "parameters": {"series": 5000}},
                    "warmup_seconds": 30.5,
                    "duration_seconds": 300.0,
                    "critical_selectors": ['{job="node"}'],
                    "gates": [{"kpi": "active_series", "max_change_percent": -20}],
                    "version": 7,
                    "created_by": "user:olga",
                    "created_at": T0,
                    "updated_at": T1,
                    "state_changed_at": T1,
                    "started_at": T0,
                    "completed_at": T1,
                }
            ],
            "hosts": [
                {
                    "id": HOST,
                    "hostname": "web-1",
                    "ip_address": "10.0.0.7",
                    "labels": {"env": "staging", "role": "web"},
                    "agent_version": "0.1.0",
                    "status": "degraded",
                    "capabilities": {"collectors": ["prometheus-agent", "otelcol"]},
                    "resource_usage": {"cpu_percent": 12.5, "memory_bytes": 1_073_741_824},
                    "started_at": T0,
                    "registered_at": T0,
                    "last_heartbeat": T1,
                    "decommissioned_at": None,
                }
            ],
            "pipelines": [
                {
                    "name": "top-k",
                    "version": 2,
                    "description": "keep the k busiest processes",
                    "definition": {"steps": [{"keep": {"top": 20}}]},
                    "created_by": "user:olga",
                    "created_at": T0,
                }
            ],
            "active_pipelines": [
                {
                    "host_id": HOST,
                    "experiment_id": EXPERIMENT,
                    "variant": "baseline",
                    "collector": "prometheus-agent",
                    "config_sha256": "ab" * 32,
                    "ports": {"web": 21001},
                    "status": "running",
                    "pid": 4242,
                    "process_info": {"rss_bytes": 52_428_800},
                    "restarts": 1,
                    "created_at": T0,
                    "updated_at": T1,
                }
            ],
            "agent_tasks": [
                {
                    "host_id": HOST,
                    "experiment_id": EXPERIMENT,
                    "type": "collector",
                    "action": "start",
                    "payload": {"variant": "baseline", "config_url": "/agent/v1/configs/ab"},
                    "priority": 5,
                    "status": "pending",
                    "attempt": 0,
                    "max_attempts": 5,
                    "idempotency_key": f"start:{EXPERIMENT}:baseline:web-1",
                    "not_before": T0,
                    "lease_expires_at": None,
                    "claimed_at": None,
                    "started_at": None,
                    "completed_at": None,
                    "cancel_requested": False,
                    "result": None,
                    "error_message": None,
                    "created_at": T0,
                    "updated_at": T0,
                },
                {
                    "host_id": HOST,
                    "experiment_id": None,
                    "type": "noop",
                    "action": "run",
                    "payload": {},
                    "priority": 0,
                    "status": "failed",
                    "attempt": 2,
                    "max_attempts": 5,
                    "idempotency_key": None,
                    "not_before": T0,
                    "lease_expires_at": T1,
                    "claimed_at": T0,
                    "started_at": T0,
                    "completed_at": T1,
                    "cancel_requested": True,
                    "result": {"exit_code": 1},
                    "error_message": "exited with 1",
                    "created_at": T0,
                    "updated_at": T1,
                },
            ],
            "experiment_variants": [
                {
                    "experiment_id": EXPERIMENT,
                    "position": 0,
                    "name": "baseline",
                    "role": "baseline",
                    "template": "baseline",
                    "template_version": None,
                    "variables": {},
                },
                {
                    "experiment_id": EXPERIMENT,
                    "position": 1,
                    "name": "topk20",
                    "role": "candidate",
                    "template": "top-k",
                    "template_version": 2,
                    "variables": {"k": 20, "metric": "process_cpu_seconds_total"},
                },
            ],
            "kpi_results": [
                {
                    "experiment_id": EXPERIMENT,
                    "variant": "topk20",
                    "kpi": "active_series",
                    "value": 475.25,
                    "unit": "series",
                    "query": 'count({__name__=~".+", phoenix_variant="topk20"})',
                    "window_start": T0,
                    "window_end": T1,
                    "change_percent": -41.0,
                    "ci_low": -43.5,
                    "ci_high": -38.25,
                    "p_value": 0.001,
                    "details": {"samples": [470.0, 480.5]},
                    "computed_at": T1,
                }
            ],
            "metrics_cache": [
                {
                    "experiment_id": EXPERIMENT,
                    "host_id": HOST,
                    "variant": "baseline",
                    "metric_name": "phoenix_collector_rss_bytes",
                    "timestamp": T1,
                    "value": 52_428_800.0,
                    "labels": {"pid": "4242"},
                }
            ],
        }
    ),
    "0002": Revision(),  # indexes only
    "0003": Revision(
        tables={
            "collector_configs": [
                {
                    "sha256": "ab" * 32,
                    "collector": "prometheus-agent",
                    "content": "global:\n  scrape_interval: 1s\n",
                    "created_at": T0,
                }
            ],
            "experiment_hosts": [
                {
                    "experiment_id": EXPERIMENT,
                    "host_id": HOST,
                    "active": True,
                    "loadsim_port": 21000,
                    "assigned_at": T0,
                    "released_at": None,
                }
            ],
        },
        columns={"active_pipelines": {"rendered_at": Added(T1)}},
    ),
    "0004": Revision(
        tables={
            "api_tokens": [
                {
                    "id": uuid.UUID("5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"),
                    "kind": "user",
                    "name": "olga",
                    "role": "operator",
                    "token_hash": "cd" * 32,
                    "host_id": None,
                    "created_by": "cli",
                    "created_at": T0,
                    "expires_at": T1,
                    "revoked_at": None,
                    "last_used_at": T1,
                },
                {
                    "id": uuid.UUID("1e2d3c4b-5a69-4877-8695-a4b3c2d1e0f9"),
                    "kind": "host",
                    "name": "web-1",
                    "role": None,
                    "token_hash": "ef" * 32,
                    "host_id": HOST,
                    "created_by": "enrolment:rack",
                    "created_at": T0,
                    "expires_at": None,
                    "revoked_at": T1,
                    "last_used_at": None,
                },
            ]
        }
    ),
    "0005": Revision(
        columns={
            "experiments": {
                "measurement_window": Added(
                    {"start": T0.isoformat(), "end": T1.isoformat(), "variants": {"b": 1.5}}
                )
            }
        }
    ),
    "0006": Revision(
        tables={
            "analyses": [
                {
                    "experiment_id": EXPERIMENT,
                    "outcome": "winner",
                    "winner": "topk20",
                    "reasons": ["topk20 passes every gate"],
                    "candidates": {"topk20": {"passed": True, "savings": 0.41}},
                    "gates": [{"kpi": "active_series", "passed": True}],
                    "missing": [],
                    "window_start": T0,
                    "window_end": T1,
                    "source": "live",
                    "computed_by": "controller",
                    "computed_at": T1,
                }
            ],
            "price_books": [
                {
                    "name": "acme",
                    "document": {"currency": "EUR", "per_million_series": 12.5},
                    "created_by": "user:admin",
                    "created_at": T0,
                }
            ],
        },
        columns={"kpi_results": {"host": Added("web-1")}},
    ),
    "0007": Revision(
        tables={
            "usage_sources": [
                {
                    "name": "node-rules",
                    "kind": "rules",
                    "created_by": "user:olga",
                    "created_at": T0,
                }
            ],
            "usage_source_versions": [
                {
                    "source_name": "node-rules",
                    "version": 1,
                    "sha256": "12" * 32,
                    "size_bytes": 44,
                    "content": "groups:\n  - name: n\n    rules: []  # ünïcode ✓\n",
                    "created_by": "user:olga",
                    "created_at": T0,
                },
                {
                    "source_name": "node-rules",
                    "version": 2,
                    "sha256": "34" * 32,
                    "size_bytes": 8,
                    "content": "groups:\n",
                    "created_by": "user:ada",
                    "created_at": T1,
                },
            ],
        },
        # experiments written before 0007 name no usage source (NULL, read as [])
        columns={"experiments": {"usage_sources": Added(["node-rules", "web-dashboard@2"])}},
    ),
    "0008": Revision(
        tables={
            "recommendations": [
                {
                    "id": "d54dbbc3915ffe50",
                    "kind": "top_k",
                    "document": {"kind": "top_k", "title": "keep the 5 process values ✓"},
                    "computed_by": "user:vera",
                    "computed_at": T1,
                }
            ]
        }
    ),
    "0009": Revision(),  # recommendations.kind widened to 32 characters: the rows stay
}

ORDER = list(REVISIONS)
EARLIER = ORDER[:-1]  # the last entry is head (checked below)


def test_every_revision_has_an_entry_in_order() -> None:
    scripts = ScriptDirectory(str(Path(migrate.__file__).with_name("migrations")))
    oldest_first = [script.revision for script in reversed(list(scripts.walk_revisions()))]
    assert oldest_first == ORDER, "REVISIONS needs one entry per migration, oldest first"
    assert ORDER[-1] == migrate.head_revision()


def _through(revision: str) -> list[Revision]:
    return [REVISIONS[r] for r in ORDER[: ORDER.index(revision) + 1]]


def _insert(connection: Connection, revision: str) -> dict[str, list[dict[str, Any]]]:
    """Write every entry's rows up to ``revision`` (with the columns added up to it) through
    the tables as they are at ``revision``; the rows as written, with their generated ids."""
    inspector = inspect(connection)
    assert set(inspector.get_table_names()) - {"alembic_version"} == {
        table for entry in _through(revision) for table in entry.tables
    }, f"a table at {revision} has no rows in REVISIONS"
    added: dict[str, dict[str, Any]] = {}
    for entry in _through(revision):
        for table, columns in entry.columns.items():
            added.setdefault(table, {}).update({c: a.value for c, a in columns.items()})
    written: dict[str, list[dict[str, Any]]] = {}
    for entry in _through(revision):
        for name, rows in entry.tables.items():
            reflected = {c["name"]: c for c in inspector.get_columns(name)}
            head = Base.metadata.tables.get(name)
            table = sa.table(
                name,
                *(
                    sa.column(c, head.c[c].type if head is not None else info["type"])
                    for c, info in reflected.items()
                ),
            )
            for row in rows:
                values = row | added.get(name, {})
                generated = "id" in reflected and "id" not in values
                expected = set(reflected) - ({"id"} if generated else set())
                assert set(values) == expected, f"{name} at {revision}: columns differ"
                insert = sa.insert(table).values(values)
                if generated:
                    values = values | {
                        "id": connection.execute(insert.returning(table.c.id)).scalar_one()
                    }
                else:
                    connection.execute(insert)
                written.setdefault(name, []).append(values)
    return written


def _at_head(revision: str, written: dict[str, list[dict[str, Any]]]) -> dict[str, list[Any]]:
    """The rows as head should hold them: as written, plus each column added after
    ``revision`` with what the migration gives existing rows."""
    later = ORDER[ORDER.index(revision) + 1 :]
    defaults: dict[str, dict[str, Any]] = {}
    for entry in (REVISIONS[r] for r in later):
        for table, columns in entry.columns.items():
            defaults.setdefault(table, {}).update({c: a.existing_rows for c, a in columns.items()})
    return {name: [row | defaults.get(name, {}) for row in rows] for name, rows in written.items()}


@pytest.mark.parametrize("revision", EARLIER)
def test_rows_written_at_an_earlier_revision_survive_the_upgrade_to_head(
    empty_database_url: str, revision: str
) -> None:
    engine = make_engine(empty_database_url)
    try:
        assert upgrade(engine, revision).current == revision
        with engine.begin() as connection:
            written = _insert(connection, revision)
        assert upgrade(engine).state is SchemaState.AT_HEAD
        with engine.connect() as connection:
            for name, rows in _at_head(revision, written).items():
                table = Base.metadata.tables[name]
                key = list(table.primary_key.columns)
                found = [
                    dict(row._mapping)
                    for row in connection.execute(sa.select(table).order_by(*key))
                ]
                assert found == sorted(rows, key=lambda r: tuple(r[c.name] for c in key)), (
                    f"{name}: rows written at {revision} differ at head"
                )
    finally:
        engine.dispose()
