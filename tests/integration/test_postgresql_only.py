"""PostgreSQL specifics: compatibility views with the earlier column names, append-only events,
and migrations serialised by the advisory lock."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from phoenix_core.errors import DatabaseError
from phoenix_core.store.database import make_engine
from phoenix_core.store.events import EventRepository
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.migrate import MIGRATION_LOCK_KEY, SchemaState, schema_status
from phoenix_core.store.session import Store
from phoenix_core.store.tables import AgentTaskRow, MetricsCacheRow
from phoenix_core.store.types import utcnow
from phoenix_core.wire import Heartbeat, HostStatus, ResourceUsage


@pytest.fixture
def pg_engine(postgres_url: str) -> Engine:
    engine = make_engine(postgres_url)
    yield engine  # type: ignore[misc]
    engine.dispose()


def _host(store: Store) -> uuid.UUID:
    with store.session() as session:
        hosts = HostRepository(session)
        host = hosts.register(
            "web-1",
            labels={"env": "prod"},
            ip_address="10.0.0.5",
            actor="test",
            capabilities={"collectors": ["prometheus-agent"]},
        )
        usage = ResourceUsage(cpu_percent=3, memory_percent=20, memory_bytes=1000, disk_percent=9)
        hosts.record_heartbeat(
            host.id,
            Heartbeat(agent_version="0.1.0", status=HostStatus.HEALTHY, resource_usage=usage),
        )
    return host.id


def _task(host_id: uuid.UUID, status: str, attempt: int, **extra: object) -> AgentTaskRow:
    now = utcnow()
    return AgentTaskRow(
        host_id=host_id,
        type="noop",
        action="run",
        payload={"note": status},
        status=status,
        attempt=attempt,
        created_at=now,
        updated_at=now,
        not_before=now,
        **extra,
    )


def test_tasks_view_maps_statuses_and_retry_count(pg_engine: Engine) -> None:
    store = Store(pg_engine)
    host_id = _host(store)
    claimed_at = utcnow() - timedelta(seconds=3)
    mapping = {
        "pending": ("pending", 0, 0),
        "claimed": ("assigned", 1, 0),
        "running": ("running", 2, 1),
        "succeeded": ("completed", 1, 0),
        "failed": ("failed", 3, 2),
        "dead": ("failed", 5, 4),
        "cancelled": ("cancelled", 0, 0),
    }
    with store.session() as session:
        for status, (_, attempt, _) in mapping.items():
            session.add(_task(host_id, status, attempt, claimed_at=claimed_at, priority=3))
    with pg_engine.connect() as connection:
        rows = (
            connection.execute(
                text(
                    "SELECT id, host_id, experiment_id, task_type, action, config, priority,"
                    " status,"
                    " assigned_at, started_at, completed_at, result, error_message, retry_count,"
                    " created_at, updated_at FROM tasks ORDER BY id"
                )
            )
            .mappings()
            .all()
        )
    got = [(row["config"]["note"], row["status"], row["retry_count"]) for row in rows]
    assert got == [(k, v[0], v[2]) for k, v in mapping.items()]
    assert {row["task_type"] for row in rows} == {"noop"}
    assert {row["assigned_at"] for row in rows} == {claimed_at}
    assert {row["priority"] for row in rows} == {3}


def test_agents_view_reads_with_the_earlier_column_names(pg_engine: Engine) -> None:
    store = Store(pg_engine)
    host_id = _host(store)
    with store.session() as session:
        running = _task(host_id, "running", 1)
        done = _task(host_id, "succeeded", 1)
        session.add_all([running, done])
    with pg_engine.connect() as connection:
        row = (
            connection.execute(
                text(
                    "SELECT host_id, hostname, ip_address, agent_version, started_at,"
                    " last_heartbeat,"
                    " status, capabilities, active_tasks, resource_usage, metadata FROM agents"
                )
            )
            .mappings()
            .one()
        )
    assert row["host_id"] == host_id
    assert (row["hostname"], row["ip_address"], row["agent_version"]) == (
        "web-1",
        "10.0.0.5",
        "0.1.0",
    )
    assert row["status"] == "healthy"
    assert row["active_tasks"] == [running.id]
    assert row["capabilities"] == {"collectors": ["prometheus-agent"]}
    assert row["resource_usage"]["memory_bytes"] == 1000
    assert row["metadata"] == {"env": "prod"}
    assert row["last_heartbeat"] is not None


def test_metric_cache_view(pg_engine: Engine) -> None:
    store = Store(pg_engine)
    host_id = _host(store)
    at = utcnow()
    with store.session() as session:
        session.add(
            MetricsCacheRow(
                host_id=host_id,
                variant="baseline",
                metric_name="agent_rss_bytes",
                timestamp=at,
                value=1.5e7,
                labels={"process": "phoenix-agent"},
            )
        )
    with pg_engine.connect() as connection:
        row = (
            connection.execute(
                text(
                    "SELECT experiment_id, timestamp, metric_name, variant, host_id, value, labels"
                    " FROM metric_cache"
                )
            )
            .mappings()
            .one()
        )
    assert dict(row) == {
        "experiment_id": None,
        "timestamp": at,
        "metric_name": "agent_rss_bytes",
        "variant": "baseline",
        "host_id": host_id,
        "value": 1.5e7,
        "labels": {"process": "phoenix-agent"},
    }


def test_events_are_append_only(pg_engine: Engine) -> None:
    store = Store(pg_engine)
    with store.session() as session:
        EventRepository(session).append("test_event", actor="test", data={"n": 1})
    with pytest.raises(DatabaseError, match="append-only"), store.session() as session:
        session.execute(text("UPDATE events SET actor = 'mallory'"))
    with pytest.raises(DatabaseError, match="append-only"), store.session() as session:
        session.execute(text("DELETE FROM events"))
    with store.session() as session:
        assert [e.actor for e in EventRepository(session).list()] == ["test"]


def _upgrade_process(url: str) -> subprocess.Popen[str]:
    code = (
        "import json, sys\n"
        "from phoenix_core.store.migrate import prepare_database\n"
        "engine, status = prepare_database(sys.argv[1])\n"
        "print(json.dumps({'current': status.current, 'state': status.state}))\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_concurrent_upgrades_wait_for_the_migration_lock(empty_postgres_url: str) -> None:
    """While the lock is held nobody migrates; released, all processes finish at head."""
    engine = make_engine(empty_postgres_url)
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        holder.commit()
        processes = [_upgrade_process(empty_postgres_url) for _ in range(4)]
        waiting = 0
        deadline = time.monotonic() + 60
        while waiting < 4 and time.monotonic() < deadline:
            waiting = holder.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND database ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).scalar_one()
            holder.commit()
            time.sleep(0.05)
        assert waiting == 4, "every upgrading process should be queued on the advisory lock"
        assert schema_status(engine).state is SchemaState.EMPTY
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
        holder.commit()
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        results.append(json.loads(stdout))
    assert all(r["state"] == "at_head" for r in results)
    assert schema_status(engine).state is SchemaState.AT_HEAD
    engine.dispose()
