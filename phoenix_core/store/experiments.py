"""Experiments in the store: the whole spec persisted, drafts edited with optimistic locking,
and every lifecycle transition a compare-and-set that appends one event row."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from phoenix_core.errors import Conflict, InvalidTransition, NotFound, StaleVersion
from phoenix_core.lifecycle import TERMINAL_STATES, ExperimentState, Verdict, transition
from phoenix_core.spec import REVEAL_SECRETS, STORED, ExperimentSpec, VariantRole, VariantSpec
from phoenix_core.store.events import EventRepository
from phoenix_core.store.tables import ExperimentHostRow, ExperimentRow, VariantRow
from phoenix_core.store.types import utcnow

__all__ = [
    "ExperimentPage",
    "ExperimentRecord",
    "ExperimentRepository",
    "ExperimentSummary",
    "MeasurementWindow",
    "page_cursor",
    "parse_page_cursor",
]

_SPEC_COLUMNS = (
    "name",
    "description",
    "collector",
    "hosts",
    "host_selector",
    "sources",
    "sink",
    "load_profile",
    "warmup_seconds",
    "duration_seconds",
    "critical_selectors",
    "gates",
    "usage_sources",
)


class MeasurementWindow(BaseModel):
    """The span every KPI of an experiment is computed over: from after warm-up and after the
    last config of every variant on every host took effect (a reload during the run moves it),
    to the end of the run."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    config_applied_at: dict[str, datetime] = Field(
        description="Per variant, when its final config took effect on its last host."
    )
    reloads: dict[str, int] = Field(
        description="Per variant, the config reloads that took effect during the experiment."
    )


class ExperimentRecord(BaseModel):
    """An experiment as stored: its spec plus lifecycle state and bookkeeping."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    state: ExperimentState
    spec: ExperimentSpec
    version: int
    verdict: Verdict | None
    verdict_reasons: list[str]
    failure_reason: str | None
    measurement_window: MeasurementWindow | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime
    state_changed_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class ExperimentSummary(BaseModel):
    """An experiment as a listing shows it: no spec beyond its name, collector and variants
    (``GET /api/v1/experiments/{id}`` has the whole record)."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    name: str
    state: ExperimentState
    collector: str
    variants: list[str]
    version: int
    verdict: Verdict | None
    failure_reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    state_changed_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class ExperimentPage(BaseModel):
    """A page of summaries, newest first; ``next_cursor`` (when there are more) goes back as
    ``cursor`` for the next page."""

    items: list[ExperimentSummary]
    next_cursor: str | None


def page_cursor(created_at: datetime, experiment_id: uuid.UUID) -> str:
    """The cursor of the page after the summary with this ``created_at`` and id."""
    raw = f"{created_at.astimezone(UTC).isoformat()}|{experiment_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def parse_page_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """``(created_at, id)`` of a ``page_cursor``; ``ValueError`` for anything else."""
    created, _, identifier = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
    return datetime.fromisoformat(created), uuid.UUID(identifier)


_SUMMARY_COLUMNS = [
    getattr(ExperimentRow, name) for name in ExperimentSummary.model_fields if name != "variants"
]
"""The experiment columns a summary shows (its variants' names come from their own table)."""


def _spec_columns(spec: ExperimentSpec) -> dict[str, Any]:
    data = spec.model_dump(mode="json", exclude={"variants"}, context=REVEAL_SECRETS)
    return {column: data[column] for column in _SPEC_COLUMNS}


def _variant_rows(spec: ExperimentSpec) -> list[VariantRow]:
    return [
        VariantRow(
            position=position,
            name=variant.name,
            role=variant.role.value,
            template=variant.template,
            template_version=variant.template_version,
            variables=variant.variables,
        )
        for position, variant in enumerate(spec.variants)
    ]


def _record(row: ExperimentRow) -> ExperimentRecord:
    spec_data: dict[str, Any] = {column: getattr(row, column) for column in _SPEC_COLUMNS}
    spec_data["usage_sources"] = spec_data["usage_sources"] or []  # NULL before 0007
    spec_data["variants"] = [
        VariantSpec(
            name=v.name,
            role=VariantRole(v.role),
            template=v.template,
            template_version=v.template_version,
            variables=v.variables,
        )
        for v in row.variants
    ]
    return ExperimentRecord(
        id=row.id,
        state=ExperimentState(row.state),
        spec=ExperimentSpec.model_validate(spec_data, context=STORED),
        version=row.version,
        verdict=Verdict(row.verdict) if row.verdict else None,
        verdict_reasons=list(row.verdict_reasons or []),
        failure_reason=row.failure_reason,
        measurement_window=(
            MeasurementWindow.model_validate(row.measurement_window)
            if row.measurement_window
            else None
        ),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        state_changed_at=row.state_changed_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
    )


class ExperimentRepository:
    """Create, read, edit (drafts only) and move experiments through their lifecycle."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._events = EventRepository(session)

    def create(self, spec: ExperimentSpec, *, actor: str) -> ExperimentRecord:
        now = utcnow()
        row = ExperimentRow(
            id=uuid.uuid4(),
            state=ExperimentState.DRAFT.value,
            version=1,
            created_by=actor,
            created_at=now,
            updated_at=now,
            state_changed_at=now,
            variants=_variant_rows(spec),
            **_spec_columns(spec),
        )
        self._session.add(row)
        self._session.flush()
        self._events.append(
            "experiment_created",
            actor=actor,
            experiment_id=row.id,
            data={"name": spec.name, "variants": [v.name for v in spec.variants]},
        )
        return _record(row)

    def get(self, experiment_id: uuid.UUID) -> ExperimentRecord:
        return _record(self._row(experiment_id))

    def list(
        self,
        *,
        state: ExperimentState | None = None,
        limit: int = 50,
        before: tuple[datetime, uuid.UUID] | None = None,
    ) -> Sequence[ExperimentRecord]:
        """Newest first; ``before`` is the (created_at, id) of the previous page's last item."""
        query = select(ExperimentRow).where(*_page(state, before)).order_by(*_NEWEST_FIRST)
        return [_record(row) for row in self._session.scalars(query.limit(limit))]

    def in_hand(self, states: Collection[ExperimentState]) -> Sequence[ExperimentRecord]:
        """Oldest first, every experiment in one of ``states`` or still holding hosts (a
        finished one, until its collectors are released): one query."""
        holding = select(ExperimentHostRow.experiment_id).where(ExperimentHostRow.active)
        query = (
            select(ExperimentRow)
            .where(
                ExperimentRow.state.in_([s.value for s in states]) | ExperimentRow.id.in_(holding)
            )
            .order_by(ExperimentRow.created_at, ExperimentRow.id)
        )
        return [_record(row) for row in self._session.scalars(query)]

    def summaries(
        self,
        *,
        state: ExperimentState | None = None,
        limit: int = 50,
        before: tuple[datetime, uuid.UUID] | None = None,
    ) -> Sequence[ExperimentSummary]:
        """As ``list``, as summaries: two light queries, no spec decoded or validated."""
        rows = self._session.execute(
            select(*_SUMMARY_COLUMNS)
            .where(*_page(state, before))
            .order_by(*_NEWEST_FIRST)
            .limit(limit)
        ).all()
        names: dict[uuid.UUID, list[str]] = {row.id: [] for row in rows}
        if names:
            for experiment_id, name in self._session.execute(
                select(VariantRow.experiment_id, VariantRow.name)
                .where(VariantRow.experiment_id.in_(names))
                .order_by(VariantRow.experiment_id, VariantRow.position)
            ):
                names[experiment_id].append(name)
        return [
            ExperimentSummary.model_validate({**row._mapping, "variants": names[row.id]})
            for row in rows
        ]

    def naming_usage_source(self, name: str) -> Sequence[tuple[uuid.UUID, str, ExperimentState]]:
        """The experiments not yet ended whose spec names the usage source ``name`` (any
        version): id, name and state, oldest first. No spec is decoded."""
        rows = self._session.execute(
            select(
                ExperimentRow.id,
                ExperimentRow.name,
                ExperimentRow.state,
                ExperimentRow.usage_sources,
            )
            .where(ExperimentRow.state.not_in([s.value for s in TERMINAL_STATES]))
            .order_by(ExperimentRow.created_at, ExperimentRow.id)
        )
        return [
            (row.id, row.name, ExperimentState(row.state))
            for row in rows
            if any(ref.partition("@")[0] == name for ref in row.usage_sources or [])
        ]

    def update_spec(
        self, experiment_id: uuid.UUID, spec: ExperimentSpec, *, expected_version: int, actor: str
    ) -> ExperimentRecord:
        """Replace a draft's spec if nobody changed it since ``expected_version``; a secret
        given as ``**********`` (as every response shows it) keeps its stored value."""
        spec = spec.keeping_secrets_of(_record(self._row(experiment_id)).spec)
        result = self._session.execute(
            update(ExperimentRow)
            .where(
                ExperimentRow.id == experiment_id,
                ExperimentRow.version == expected_version,
                ExperimentRow.state == ExperimentState.DRAFT.value,
            )
            .values(version=ExperimentRow.version + 1, updated_at=utcnow(), **_spec_columns(spec))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            current = self._row(experiment_id)
            if current.state != ExperimentState.DRAFT.value:
                raise Conflict(f"Experiment {experiment_id} is '{current.state}', not a draft.")
            raise StaleVersion(
                f"Experiment {experiment_id} is at version {current.version}, "
                f"not {expected_version}: reload it and apply the change again."
            )
        self._session.execute(delete(VariantRow).where(VariantRow.experiment_id == experiment_id))
        row = self._row(experiment_id, refresh=True)
        row.variants = _variant_rows(spec)
        self._session.flush()
        self._events.append(
            "experiment_updated",
            actor=actor,
            experiment_id=experiment_id,
            data={"version": row.version},
        )
        return _record(row)

    def delete(self, experiment_id: uuid.UUID, *, actor: str) -> None:
        """Delete a draft (its events stay in the audit trail)."""
        row = self._row(experiment_id)
        if row.state != ExperimentState.DRAFT.value:
            raise Conflict(f"Experiment {experiment_id} is '{row.state}'; only drafts are deleted.")
        result = self._session.execute(
            delete(ExperimentRow)
            .where(
                ExperimentRow.id == experiment_id,
                ExperimentRow.state == ExperimentState.DRAFT.value,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"Experiment {experiment_id} changed while being deleted.")
        self._session.expunge(row)
        self._events.append(
            "experiment_deleted", actor=actor, experiment_id=experiment_id, data={"name": row.name}
        )

    def transition(
        self,
        experiment_id: uuid.UUID,
        target: ExperimentState,
        *,
        actor: str,
        expected: ExperimentState | None = None,
        reason: str | None = None,
        verdict: Verdict | None = None,
        verdict_reasons: Sequence[str] | None = None,
        measurement_window: MeasurementWindow | None = None,
    ) -> ExperimentRecord:
        """Move to ``target`` if the state machine allows it from the stored state.

        A compare-and-set on the state: if another actor moved the experiment first, this
        raises ``InvalidTransition`` (or ``Conflict`` when ``expected`` no longer holds).
        """
        row = self._row(experiment_id)
        current = ExperimentState(row.state)
        if expected is not None and current is not expected:
            raise Conflict(
                f"Experiment {experiment_id} is '{current.value}', not '{expected.value}'."
            )
        transition(current, target)
        now = utcnow()
        values: dict[str, Any] = {"state": target.value, "state_changed_at": now, "updated_at": now}
        if current is ExperimentState.DRAFT:
            values["started_at"] = now
        if target in TERMINAL_STATES:
            values["completed_at"] = now
        if target is ExperimentState.FAILED:
            values["failure_reason"] = reason
        if verdict is not None:
            values["verdict"] = verdict.value
            values["verdict_reasons"] = list(verdict_reasons or [])
        if measurement_window is not None:
            values["measurement_window"] = measurement_window.model_dump(mode="json")
        result = self._session.execute(
            update(ExperimentRow)
            .where(ExperimentRow.id == experiment_id, ExperimentRow.state == current.value)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            now_state = self._row(experiment_id, refresh=True).state
            raise InvalidTransition("experiment", now_state, target.value)
        data: dict[str, Any] = {"from": current.value, "to": target.value}
        if reason:
            data["reason"] = reason
        if verdict is not None:
            data["verdict"] = verdict.value
        self._events.append(
            "experiment_state_changed", actor=actor, experiment_id=experiment_id, data=data
        )
        return _record(self._row(experiment_id, refresh=True))

    def record_verdict(
        self,
        experiment_id: uuid.UUID,
        verdict: Verdict,
        reasons: Sequence[str],
        *,
        actor: str,
        source: str,
    ) -> ExperimentRecord:
        """A completed experiment's verdict, recomputed (``POST …/analysis``): stored with an
        ``experiment_analysed`` event; the state stays."""
        row = self._row(experiment_id)
        row.verdict, row.verdict_reasons, row.updated_at = verdict.value, list(reasons), utcnow()
        self._events.append(
            "experiment_analysed",
            actor=actor,
            experiment_id=experiment_id,
            data={"verdict": verdict.value, "source": source},
        )
        self._session.flush()
        return _record(self._row(experiment_id, refresh=True))

    def _row(self, experiment_id: uuid.UUID, *, refresh: bool = False) -> ExperimentRow:
        row = self._session.get(ExperimentRow, experiment_id, populate_existing=refresh)
        if row is None:
            raise NotFound("experiment", experiment_id)
        return row


_NEWEST_FIRST = (ExperimentRow.created_at.desc(), ExperimentRow.id.desc())


def _page(
    state: ExperimentState | None, before: tuple[datetime, uuid.UUID] | None
) -> list[ColumnElement[bool]]:
    """The filters of one page: in ``state``, after the (created_at, id) of ``before``."""
    filters: list[ColumnElement[bool]] = []
    if state is not None:
        filters.append(ExperimentRow.state == state.value)
    if before is not None:
        created_at, experiment_id = before
        filters.append(
            (ExperimentRow.created_at < created_at)
            | ((ExperimentRow.created_at == created_at) & (ExperimentRow.id < experiment_id))
        )
    return filters
