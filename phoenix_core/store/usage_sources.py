"""Usage sources in the store: named rule files, Grafana dashboards and query lists, each upload
a numbered version that keeps the content as uploaded and its SHA-256. What a version reads is
extracted again from its content on each read (``use_cases.usage``; why: docs/usage.md)."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Row, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from phoenix_core.errors import Conflict
from phoenix_core.store.events import EventRepository
from phoenix_core.store.tables import UsageSourceRow, UsageVersionRow
from phoenix_core.store.types import utcnow

__all__ = [
    "USAGE_SOURCE_DELETED",
    "USAGE_VERSION_ADDED",
    "StoredVersion",
    "UsageKind",
    "UsageSourceRecord",
    "UsageSourceRepository",
    "UsageVersionRecord",
    "content_sha256",
]

USAGE_VERSION_ADDED = "usage_source_version_added"
"""The audit event of an upload that made a new version (an identical one makes none)."""
USAGE_SOURCE_DELETED = "usage_source_deleted"
"""The audit event of ``delete``: the source and every version are gone, this stays."""

_ATTEMPTS = 3  # concurrent uploads of one name: the loser of a version number looks again


class UsageKind(StrEnum):
    """What a usage source holds."""

    RULES = "rules"
    """A Prometheus rule file (recording and alerting rules), YAML."""
    DASHBOARD = "dashboard"
    """A Grafana dashboard, JSON."""
    QUERIES = "queries"
    """A plain list of PromQL queries, one a line."""


class UsageVersionRecord(BaseModel):
    """One upload of a source: its number (1, 2, …), the SHA-256 and size of its content (UTF-8),
    who uploaded it and when."""

    model_config = ConfigDict(frozen=True)

    version: int
    sha256: str
    size_bytes: int
    created_by: str
    created_at: datetime


class UsageSourceRecord(BaseModel):
    """A source: its name and kind, who first uploaded it when, and its latest version
    (``version_count`` is how many there are)."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: UsageKind
    created_by: str
    created_at: datetime
    version_count: int
    latest: UsageVersionRecord


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """A version with its source and its content, as uploaded."""

    source: UsageSourceRecord
    version: UsageVersionRecord
    content: str


def content_sha256(content: str) -> str:
    """The SHA-256 of ``content`` encoded as UTF-8, in hex: what names a version's content."""
    return hashlib.sha256(content.encode()).hexdigest()


_VERSION_COLUMNS = (
    UsageVersionRow.version,
    UsageVersionRow.sha256,
    UsageVersionRow.size_bytes,
    UsageVersionRow.created_by,
    UsageVersionRow.created_at,
)


class UsageSourceRepository:
    """Usage sources: listed, read by name and version, added to (a new version), deleted."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._events = EventRepository(session)

    def list(self, names: Collection[str] | None = None) -> Sequence[UsageSourceRecord]:
        """Every source (or those of ``names`` that exist), by name, with its latest version."""
        return [_source(row) for row in self._latest(names, with_content=False)]

    def get(self, name: str) -> UsageSourceRecord | None:
        found = self.list([name])
        return found[0] if found else None

    def versions(self, name: str) -> Sequence[UsageVersionRecord]:
        """Every version of ``name``, oldest first (none for an unknown name)."""
        rows = self._session.execute(
            select(*_VERSION_COLUMNS)
            .where(UsageVersionRow.source_name == name)
            .order_by(UsageVersionRow.version)
        )
        return [_version(row) for row in rows]

    def version(self, name: str, version: int | None = None) -> StoredVersion | None:
        """Version ``version`` of ``name`` (default: the latest) with its content; None when
        the source or that version does not exist."""
        source = self.get(name)
        if source is None:
            return None
        number = source.latest.version if version is None else version
        row = self._session.execute(
            select(*_VERSION_COLUMNS, UsageVersionRow.content).where(
                UsageVersionRow.source_name == name, UsageVersionRow.version == number
            )
        ).one_or_none()
        return StoredVersion(source, _version(row), row.content) if row is not None else None

    def latest_contents(self, names: Collection[str] | None = None) -> Sequence[StoredVersion]:
        """The latest version of every source (or of those of ``names`` that exist), by name,
        with its content: one query."""
        return [
            StoredVersion(_source(row), _version(row), row.content)
            for row in self._latest(names, with_content=True)
        ]

    def add_version(
        self, name: str, kind: UsageKind, content: str, *, actor: str
    ) -> tuple[StoredVersion, bool]:
        """Store ``content`` as the next version of ``name`` (creating the source), unless the
        latest version holds the same content: then that one, unchanged. True when a version
        was added. ``Conflict`` if ``name`` holds another kind of source."""
        sha256 = content_sha256(content)
        for _ in range(_ATTEMPTS):
            try:
                with self._session.begin_nested():
                    found = self._add(name, kind, content, sha256, actor)
            except IntegrityError:
                # another upload of this name took the version number (or created the source)
                # first; it is committed now: look again
                continue
            if found is not None:
                return found, False
            stored = self.version(name)
            assert stored is not None
            self._events.append(
                USAGE_VERSION_ADDED,
                actor=actor,
                data={
                    "name": name,
                    "kind": kind.value,
                    "version": stored.version.version,
                    "sha256": sha256,
                    "size_bytes": stored.version.size_bytes,
                },
            )
            return stored, True
        raise Conflict(f"Usage source {name!r} changed while this was stored; send it again.")

    def _add(
        self, name: str, kind: UsageKind, content: str, sha256: str, actor: str
    ) -> StoredVersion | None:
        """The latest version when it holds ``sha256``; else None, once the new one is added."""
        now = utcnow()
        latest = self.version(name)
        if latest is None:
            self._session.add(
                UsageSourceRow(name=name, kind=kind.value, created_by=actor, created_at=now)
            )
            self._session.flush()
            number = 1
        elif latest.source.kind is not kind:
            raise Conflict(
                f"Usage source {name!r} holds {latest.source.kind.value}, not {kind.value}: "
                "upload this one under another name."
            )
        elif latest.version.sha256 == sha256:
            return latest
        else:
            number = latest.version.version + 1
        self._session.add(
            UsageVersionRow(
                source_name=name,
                version=number,
                sha256=sha256,
                size_bytes=len(content.encode()),
                content=content,
                created_by=actor,
                created_at=now,
            )
        )
        self._session.flush()
        return None

    def delete(self, name: str, *, actor: str) -> UsageSourceRecord | None:
        """Delete the source ``name`` and every version of it (the audit trail keeps an event
        naming them); None if there is no such source."""
        source = self.get(name)
        if source is None:
            return None
        self._session.execute(delete(UsageVersionRow).where(UsageVersionRow.source_name == name))
        self._session.execute(delete(UsageSourceRow).where(UsageSourceRow.name == name))
        self._events.append(
            USAGE_SOURCE_DELETED,
            actor=actor,
            data={
                "name": name,
                "kind": source.kind.value,
                "versions": source.version_count,
                "sha256": source.latest.sha256,
            },
        )
        return source

    def _latest(self, names: Collection[str] | None, *, with_content: bool) -> Sequence[Row[Any]]:
        """One row per source: its columns and its latest version's (``versions`` is the latest
        number: versions are numbered from 1 and never deleted one by one)."""
        latest = (
            select(
                UsageVersionRow.source_name,
                func.max(UsageVersionRow.version).label("versions"),
            )
            .group_by(UsageVersionRow.source_name)
            .subquery()
        )
        columns = [*_VERSION_COLUMNS, *((UsageVersionRow.content,) if with_content else ())]
        query = (
            select(
                UsageSourceRow.name,
                UsageSourceRow.kind,
                UsageSourceRow.created_by.label("source_created_by"),
                UsageSourceRow.created_at.label("source_created_at"),
                latest.c.versions,
                *columns,
            )
            .join(latest, latest.c.source_name == UsageSourceRow.name)
            .join(
                UsageVersionRow,
                (UsageVersionRow.source_name == UsageSourceRow.name)
                & (UsageVersionRow.version == latest.c.versions),
            )
            .order_by(UsageSourceRow.name)
        )
        if names is not None:
            query = query.where(UsageSourceRow.name.in_(list(names)))
        return list(self._session.execute(query))


def _version(row: Any) -> UsageVersionRecord:
    return UsageVersionRecord(
        version=row.version,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _source(row: Any) -> UsageSourceRecord:
    return UsageSourceRecord(
        name=row.name,
        kind=UsageKind(row.kind),
        created_by=row.source_created_by,
        created_at=row.source_created_at,
        version_count=row.versions,
        latest=_version(row),
    )
