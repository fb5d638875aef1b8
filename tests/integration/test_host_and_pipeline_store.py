"""Hosts in the store: registration, heartbeats, offline, decommission."""

from __future__ import annotations

from datetime import timedelta

import pytest

from phoenix_core.errors import Conflict
from phoenix_core.store.events import EventRepository
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.session import Store
from phoenix_core.store.types import utcnow
from phoenix_core.wire import Heartbeat, HostStatus, ResourceUsage


def _heartbeat(status: HostStatus = HostStatus.HEALTHY) -> Heartbeat:
    usage = ResourceUsage(cpu_percent=12.5, memory_percent=40, memory_bytes=2**30, disk_percent=7)
    return Heartbeat(agent_version="0.1.0", status=status, resource_usage=usage)


def test_host_registration_heartbeat_and_status_events(store: Store) -> None:
    with store.session() as session:
        host = HostRepository(session).register(
            "web-1", labels={"env": "staging"}, agent_version="0.1.0", actor="enrolment:ops"
        )
    assert host.status is HostStatus.OFFLINE
    with store.session() as session:
        hosts = HostRepository(session)
        hosts.record_heartbeat(host.id, _heartbeat())
        hosts.record_heartbeat(host.id, _heartbeat())  # no status change: no event
        updated = hosts.get(host.id)
    assert updated.status is HostStatus.HEALTHY
    assert updated.resource_usage == {
        "cpu_percent": 12.5,
        "memory_percent": 40.0,
        "memory_bytes": 2**30,
        "disk_percent": 7.0,
    }
    assert updated.last_heartbeat is not None
    with store.session() as session:
        events = EventRepository(session).list(host_id=host.id)
    assert [(e.type, e.actor) for e in events] == [
        ("host_registered", "enrolment:ops"),
        ("host_status_changed", "agent:web-1"),
    ]


def test_hosts_without_heartbeats_go_offline(store: Store) -> None:
    with store.session() as session:
        hosts = HostRepository(session)
        stale = hosts.register("old", actor="test")
        fresh = hosts.register("new", actor="test")
        hosts.record_heartbeat(stale.id, _heartbeat(), at=utcnow() - timedelta(minutes=5))
        hosts.record_heartbeat(fresh.id, _heartbeat())
    with store.session() as session:
        offline = HostRepository(session).mark_offline(
            stale_before=utcnow() - timedelta(minutes=1), actor="controller"
        )
    assert [h.hostname for h in offline] == ["old"]
    with store.session() as session:
        hosts = HostRepository(session)
        assert hosts.get(stale.id).status is HostStatus.OFFLINE
        assert hosts.get(fresh.id).status is HostStatus.HEALTHY


def test_selector_and_decommission(store: Store) -> None:
    with store.session() as session:
        hosts = HostRepository(session)
        web = hosts.register("web", labels={"env": "prod", "role": "web"}, actor="test")
        hosts.register("db", labels={"env": "prod", "role": "db"}, actor="test")
    with store.session() as session:
        hosts = HostRepository(session)
        assert [h.hostname for h in hosts.select({"role": "web"})] == ["web"]
        assert [h.hostname for h in hosts.select({"env": "prod"})] == ["db", "web"]
        hosts.decommission(web.id, actor="user:admin")
    with store.session() as session:
        hosts = HostRepository(session)
        assert [h.hostname for h in hosts.list()] == ["db"]
        assert len(hosts.list(include_decommissioned=True)) == 2
        with pytest.raises(Conflict, match="decommissioned"):
            hosts.record_heartbeat(web.id, _heartbeat())
