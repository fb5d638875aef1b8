"""Usage sources as users upload and read them: a rule file, a Grafana dashboard or a query list
stored under a name, a new version for each new content; the query records of a version; and the
usage of the fleet's metrics over many sources. See docs/usage.md ("Uploading usage").

A version's records are extracted from its content on every read, never stored: extraction is
cheap (1,600 queries in 0.14 s, ``bench/usage.py``), and an improved extractor then applies to
every version ever uploaded, without a data migration.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy.orm import Session

from phoenix_core.errors import Conflict, FieldError, NotFound, ValidationFailed
from phoenix_core.spec import USAGE_SOURCE_NAME
from phoenix_core.store.experiments import ExperimentRepository
from phoenix_core.store.usage_sources import (
    StoredVersion,
    UsageKind,
    UsageSourceRecord,
    UsageSourceRepository,
    UsageVersionRecord,
)
from phoenix_core.usage import (
    LabelUse,
    QuerySource,
    QueryUsage,
    UsageIndex,
    queries_from_dashboard,
    queries_from_list,
    queries_from_rules,
)
from phoenix_core.usage.records import SourceKind, failed

__all__ = [
    "Counts",
    "MetricUsage",
    "SourceQueries",
    "Upload",
    "UsageKind",
    "UsageReport",
    "add_version",
    "check_references",
    "delete_source",
    "extract",
    "parse_reference",
    "queries",
    "source",
    "sources",
    "usage",
    "usage_records",
]

_NAME = re.compile(rf"^{USAGE_SOURCE_NAME}$")
_REFERENCE = re.compile(rf"^(?P<name>{USAGE_SOURCE_NAME})(?:@(?P<version>[1-9][0-9]{{0,8}}))?$")
_LISTED = 10  # unknown names: at most this many known ones are named


@dataclass(frozen=True, slots=True)
class Counts:
    """How many queries a source (or several) holds, by status."""

    total: int
    ok: int
    error: int
    skipped: int

    @classmethod
    def of(cls, records: Sequence[QueryUsage]) -> Counts:
        statuses = [record.status for record in records]
        return cls(
            len(statuses), statuses.count("ok"), statuses.count("error"), statuses.count("skipped")
        )


@dataclass(frozen=True, slots=True)
class SourceQueries:
    """One version of a source and the records of its queries (in the order it holds them)."""

    source: UsageSourceRecord
    version: UsageVersionRecord
    records: tuple[QueryUsage, ...]

    @property
    def counts(self) -> Counts:
        return Counts.of(self.records)

    @property
    def complete(self) -> bool:
        """Whether every query was read (no ``error`` record)."""
        return all(record.status != "error" for record in self.records)


@dataclass(frozen=True, slots=True)
class Upload:
    """What an upload stored: the version (a new one when ``created``, else the latest, which
    holds the same content) and its records."""

    queries: SourceQueries
    created: bool


@dataclass(frozen=True, slots=True)
class MetricUsage:
    """Who reads one metric (a name, or a pattern over names): how many queries, in which
    sources, through which references (its name, patterns matching it), and which labels."""

    metric: str
    is_pattern: bool
    queries: int
    sources: tuple[str, ...]
    via: tuple[str, ...]
    labels: LabelUse


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Usage over a set of source versions, by metric. ``complete`` is False while a query of
    any of them failed to parse: an unread query could read any metric."""

    sources: tuple[SourceQueries, ...]
    metrics: tuple[MetricUsage, ...]

    @property
    def counts(self) -> Counts:
        return Counts.of([record for source in self.sources for record in source.records])

    @property
    def complete(self) -> bool:
        return all(source.complete for source in self.sources)


def extract(kind: UsageKind, name: str, content: str) -> list[QueryUsage]:
    """The records of ``content`` read as ``kind`` (``name`` is the file in their sources).
    ``ValidationFailed`` naming ``content`` when it is not of its kind (a rule file that is not
    YAML or has no groups, a dashboard that is not a dashboard's JSON, …); queries that do not
    parse are ``error`` records, never a refusal."""
    read = _read_as(kind, name, content)
    if isinstance(read, str):
        raise ValidationFailed([FieldError(("content",), read)])
    return read


def add_version(
    session: Session, name: str, kind: UsageKind | str, content: str, *, actor: str
) -> Upload:
    """Store ``content`` as the next version of source ``name`` (created on first upload),
    unless the latest version holds the same content: then that one (``created`` False).
    ``ValidationFailed`` names ``name``, ``kind`` or ``content``; ``Conflict`` if ``name``
    holds another kind of source."""
    errors = []
    if not _NAME.match(name):
        errors.append(FieldError(("name",), f"a name like a file's, matching {_NAME.pattern}"))
    try:
        kind = UsageKind(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in UsageKind)
        errors.append(FieldError(("kind",), f"one of {kinds}, not {kind!r}"))
    if errors:
        raise ValidationFailed(errors)
    assert isinstance(kind, UsageKind)
    records = extract(kind, name, content)
    stored, created = UsageSourceRepository(session).add_version(name, kind, content, actor=actor)
    return Upload(SourceQueries(stored.source, stored.version, tuple(records)), created)


def sources(session: Session) -> Sequence[UsageSourceRecord]:
    """Every stored source, by name, with its latest version."""
    return UsageSourceRepository(session).list()


def source(session: Session, name: str) -> tuple[UsageSourceRecord, Sequence[UsageVersionRecord]]:
    """The source ``name`` and every version of it, oldest first; ``NotFound`` if none."""
    repository = UsageSourceRepository(session)
    found = repository.get(name) if _NAME.match(name) else None
    if found is None:
        raise _not_found(repository, name)
    return found, repository.versions(name)


def queries(session: Session, name: str, version: int | None = None) -> SourceQueries:
    """The records of version ``version`` of ``name`` (default: the latest); ``NotFound`` for
    an unknown source or version."""
    repository = UsageSourceRepository(session)
    stored = repository.version(name, version) if _NAME.match(name) else None
    if stored is None:
        raise _missing(repository, name, version)
    return _read(stored, name)


def usage(
    session: Session, references: Sequence[str] | None = None, metric: str | None = None
) -> UsageReport:
    """Who reads which metric over the latest version of every source, or over the sources
    ``references`` names (``name`` or ``name@version``). With ``metric``, the one row of that
    metric name, resolved through its name and every pattern that matches it (no query: not
    read). ``ValidationFailed`` naming ``sources`` for a malformed reference; ``NotFound`` for
    an unknown source or version."""
    read = _resolve(session, references)
    index = UsageIndex(record for source in read for record in source.records)
    if metric is not None:
        users = index.users(metric)
        rows = [
            MetricUsage(
                metric=metric,
                is_pattern=False,
                queries=len(users),
                sources=tuple(sorted({record.source.file for record in users})),
                via=tuple(ref.key for ref in index.refs_reading(metric)),
                labels=index.label_use(metric),
            )
        ]
    else:
        rows = [
            MetricUsage(
                metric=row["metric"],
                is_pattern=row["is_pattern"],
                queries=row["queries"],
                sources=row["files"],
                via=(row["metric"],),
                labels=LabelUse(
                    names=frozenset(row["labels"]),
                    all_labels=row["all_labels"],
                    all_except=frozenset(row["all_except"]),
                ),
            )
            for row in index.metrics().to_dict("records")
        ]
    return UsageReport(tuple(read), tuple(rows))


def delete_source(session: Session, name: str, *, actor: str) -> UsageSourceRecord:
    """Delete the source ``name`` and all its versions (an audit event records it);
    ``Conflict`` while an experiment that has not ended names it."""
    repository = UsageSourceRepository(session)
    if _NAME.match(name) and (users := ExperimentRepository(session).naming_usage_source(name)):
        named = ", ".join(f"{title!r} ({id_}, {state})" for id_, title, state in users)
        raise Conflict(
            f"Usage source {name!r} is named by experiments that have not ended: {named}; "
            "edit or delete them first."
        )
    deleted = repository.delete(name, actor=actor) if _NAME.match(name) else None
    if deleted is None:
        raise _not_found(repository, name)
    return deleted


def parse_reference(reference: str) -> tuple[str, int | None]:
    """``name`` or ``name@version`` → (name, version or None); ``ValueError`` otherwise."""
    found = _REFERENCE.match(reference)
    if found is None:
        raise ValueError(f"{reference!r} is not NAME or NAME@VERSION")
    version = found.group("version")
    return found.group("name"), int(version) if version else None


def check_references(
    session: Session, references: Sequence[str], loc: Sequence[str | int] = ("usage_sources",)
) -> None:
    """Refuse references to sources or versions that are not stored: ``ValidationFailed``
    naming each at fault (``usage_sources.0``)."""
    if not references:
        return
    parsed = [parse_reference(reference) for reference in references]
    repository = UsageSourceRepository(session)
    stored = {found.name: found for found in repository.list({name for name, _ in parsed})}
    errors = []
    for position, (name, version) in enumerate(parsed):
        found = stored.get(name)
        if found is None:
            message = str(_not_found(repository, name))
        elif version is not None and version > found.version_count:
            message = f"usage source {name!r} has no version {version} (1 to {found.version_count})"
        else:
            continue
        errors.append(FieldError((*loc, position), message))
    if errors:
        raise ValidationFailed(errors)


def usage_records(session: Session, references: Sequence[str]) -> list[QueryUsage]:
    """Every query record of the named sources (``name`` or ``name@version``), in order: what
    an experiment's ``usage_sources`` read."""
    return [record for read in _resolve(session, references) for record in read.records]


def _resolve(session: Session, references: Sequence[str] | None) -> list[SourceQueries]:
    repository = UsageSourceRepository(session)
    if references is None:
        return [_read(stored, stored.source.name) for stored in repository.latest_contents()]
    if not references:
        raise ValidationFailed(
            [FieldError(("sources",), "name at least one source, or leave sources out")]
        )
    try:
        parsed = [parse_reference(reference) for reference in references]
    except ValueError as exc:
        raise ValidationFailed([FieldError(("sources",), str(exc))]) from None
    latest = {s.source.name: s for s in repository.latest_contents({n for n, v in parsed if not v})}
    read = []
    for name, version in dict.fromkeys(parsed):
        stored = latest.get(name) if version is None else repository.version(name, version)
        if stored is None:
            raise _missing(repository, name, version)
        read.append(_read(stored, name if version is None else f"{name}@{version}"))
    return read


def _read(stored: StoredVersion, file: str) -> SourceQueries:
    read = _read_as(stored.source.kind, file, stored.content)
    if isinstance(read, str):  # checked on upload; an extractor grown stricter since says why
        where = QuerySource(kind=_RECORD_KIND[stored.source.kind], file=file)
        read = [failed(where, "", read)]
    return SourceQueries(stored.source, stored.version, tuple(read))


def _missing(repository: UsageSourceRepository, name: str, version: int | None) -> NotFound:
    """The error for a source, or a version of it, that is not stored."""
    found = repository.get(name) if _NAME.match(name) else None
    if found is None or version is None:
        return _not_found(repository, name)
    return NotFound(
        "usage source version",
        f"{name}@{version}",
        detail=f"Usage source {name!r} has no version {version}; it has versions 1 to "
        f"{found.version_count}.",
    )


def _not_found(repository: UsageSourceRepository, name: str) -> NotFound:
    known = [found.name for found in repository.list()]
    if not known:
        listed = "none is stored"
    else:
        listed = "there are: " + ", ".join(known[:_LISTED])
        if len(known) > _LISTED:
            listed += f" and {len(known) - _LISTED} more"
    return NotFound("usage source", name, detail=f"No usage source {name!r} exists; {listed}.")


def _read_as(kind: UsageKind, name: str, content: str) -> list[QueryUsage] | str:
    """The records of ``content`` as ``kind``, or what makes it not of that kind."""
    if not content.strip():
        return "is empty"
    if "\x00" in content:
        return "holds a NUL character: not text"
    return _READERS[kind](content, name)


def _rules(content: str, name: str) -> list[QueryUsage] | str:
    records = queries_from_rules(content, name)
    whole = [r for r in records if r.source.group is None]  # only file-level failures lack one
    if whole:
        said = "; ".join(str(r.message).removeprefix("not a rule file: ") for r in whole)
        return f"not a Prometheus rule file: {said}"
    if not records and not _yaml_documents(content):
        return "not a Prometheus rule file: no YAML document with a 'groups' list"
    return records


def _dashboard(content: str, name: str) -> list[QueryUsage] | str:
    try:
        document = json.loads(content)
    except ValueError as exc:
        return f"not a Grafana dashboard: not JSON: {exc}"
    board = document.get("dashboard") if isinstance(document, Mapping) else None
    board = board if isinstance(board, Mapping) else document
    if not isinstance(board, Mapping) or not any(
        isinstance(board.get(key), list) for key in ("panels", "rows")
    ):
        return "not a Grafana dashboard: a JSON object with a 'panels' (or 'rows') list"
    return queries_from_dashboard(document, name)


def _query_list(content: str, name: str) -> list[QueryUsage] | str:
    if content.lstrip()[:1] in ("{", "[") and _json_value(content) is not None:
        return "JSON, not a list of queries (one a line): upload a dashboard as kind 'dashboard'"
    if "groups:" in content and any(
        isinstance(d, Mapping) and "groups" in d for d in _yaml_documents(content)
    ):
        return "a rule file, not a list of queries (one a line): upload it as kind 'rules'"
    return queries_from_list(content, name)


def _yaml_documents(content: str) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(content) if d is not None]
    except yaml.YAMLError:
        return []


def _json_value(content: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


_READERS: dict[UsageKind, Callable[[str, str], list[QueryUsage] | str]] = {
    UsageKind.RULES: _rules,
    UsageKind.DASHBOARD: _dashboard,
    UsageKind.QUERIES: _query_list,
}
_RECORD_KIND: dict[UsageKind, SourceKind] = {
    UsageKind.RULES: "rules",
    UsageKind.DASHBOARD: "dashboard",
    UsageKind.QUERIES: "list",
}
