"""Stored usage sources below the API: concurrent uploads of one name take turns (PostgreSQL),
content stored before a stricter check is read with an error record rather than refused, and a
deletion takes every version and leaves an event."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text

from phoenix_core.store.database import make_engine
from phoenix_core.store.events import EventRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tables import UsageSourceRow, UsageVersionRow
from phoenix_core.store.usage_sources import UsageKind, UsageSourceRepository, content_sha256
from phoenix_core.use_cases import usage
from support.waiting import until

QUERIES = UsageKind.QUERIES


@pytest.mark.parametrize(
    ("content", "version", "created"),
    [("rate(x[5m])\n", 2, False), ("sum(y)\n", 3, True)],
    ids=["same content", "other content"],
)
def test_concurrent_uploads_of_one_name_take_turns(
    postgres_url: str, content: str, version: int, created: bool
) -> None:
    store = Store(make_engine(postgres_url))
    with store.session() as session:
        UsageSourceRepository(session).add_version("runbook", QUERIES, "up\n", actor="t")
    added, release = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def upload(who: str, what: str) -> None:
        try:
            with store.session() as session:
                found = UsageSourceRepository(session).add_version(
                    "runbook", QUERIES, what, actor=who
                )
                results[who] = (found[0].version.version, found[1])
                if who == "first":
                    added.set()
                    release.wait(30)  # holds version 2, uncommitted
        except Exception as exc:  # the test reports it
            results[who] = exc

    first = threading.Thread(target=upload, args=("first", "rate(x[5m])\n"))
    first.start()
    assert added.wait(30), results
    second = threading.Thread(target=upload, args=("second", content))
    second.start()
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )

    def second_waits() -> int:
        # a transaction of its own each time: pg_stat_activity holds still within one
        with store.engine.connect() as connection:
            return int(connection.execute(waiting).scalar_one())

    try:
        until(second_waits, "the second upload waits for the first's version 2")
    finally:
        release.set()
    first.join()
    second.join()
    store.dispose()
    assert results == {"first": (2, True), "second": (version, created)}


def test_content_stored_before_a_stricter_check_is_read_with_an_error_record(
    store: Store,
) -> None:
    content = "scrape_configs: []\n"  # refused on upload today
    with store.session() as session:
        session.add(UsageSourceRow(name="old", kind="rules", created_by="t"))
        session.flush()
        session.add(
            UsageVersionRow(
                source_name="old",
                version=1,
                sha256=content_sha256(content),
                size_bytes=len(content),
                content=content,
                created_by="t",
            )
        )
    with store.session() as session:
        found = usage.queries(session, "old")
        report = usage.usage(session)
    [record] = found.records
    assert (record.status, record.source.file, record.message) == (
        "error",
        "old",
        "not a Prometheus rule file: no 'groups' list",
    )
    assert (report.complete, report.counts.error, report.metrics) == (False, 1, ())


def test_a_deletion_takes_every_version_and_leaves_an_event(store: Store) -> None:
    with store.session() as session:
        usage.add_version(session, "runbook", "queries", "up\n", actor="user:olga")
        usage.add_version(session, "runbook", "queries", "up\nnode_load1\n", actor="user:olga")
        usage.add_version(session, "other", "queries", "up\n", actor="user:olga")
    with store.session() as session:
        deleted = usage.delete_source(session, "runbook", actor="user:ada")
    assert (deleted.name, deleted.version_count) == ("runbook", 2)
    with store.session() as session:
        repository = UsageSourceRepository(session)
        assert [source.name for source in repository.list()] == ["other"]
        assert repository.versions("runbook") == []
        assert session.query(UsageVersionRow).filter_by(source_name="runbook").count() == 0
        events = EventRepository(session).list()
    assert [(e.type, e.actor, e.data.get("version")) for e in events] == [
        ("usage_source_version_added", "user:olga", 1),
        ("usage_source_version_added", "user:olga", 2),
        ("usage_source_version_added", "user:olga", 1),
        ("usage_source_deleted", "user:ada", None),
    ]
    assert events[-1].data == {
        "name": "runbook",
        "kind": "queries",
        "versions": 2,
        "sha256": content_sha256("up\nnode_load1\n"),
    }
