"""Hosts (registration, heartbeats, offline, decommission) and pipeline versions in the store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from phoenix_core.errors import Conflict, NotFound
from phoenix_core.store.events import EventRepository
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.pipelines import PipelineRepository
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


def test_pipeline_versions_count_up(store: Store) -> None:
    with store.session() as session:
        pipelines = PipelineRepository(session)
        one = pipelines.add_version("top-k", {"steps": [{"top_k": {"k": 10}}]}, actor="user:a")
        two = pipelines.add_version("top-k", {"steps": [{"top_k": {"k": 20}}]}, actor="user:a")
        pipelines.add_version("baseline", {"steps": []}, actor="user:a")
    assert (one.version, two.version) == (1, 2)
    with store.session() as session:
        pipelines = PipelineRepository(session)
        assert pipelines.get("top-k").version == 2
        assert pipelines.get("top-k", 1).definition == {"steps": [{"top_k": {"k": 10}}]}
        assert [(p.name, p.version) for p in pipelines.latest()] == [("baseline", 1), ("top-k", 2)]
        assert [p.version for p in pipelines.versions("top-k")] == [1, 2]
        with pytest.raises(NotFound):
            pipelines.get("top-k", 3)
        with pytest.raises(NotFound):
            pipelines.versions("nope")
