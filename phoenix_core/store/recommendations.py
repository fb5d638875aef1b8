"""Computed recommendations in the store, each under the id that names its proposal: computing
one again replaces its document, so the id always resolves to its latest forecast, savings and
evidence; those last computed before a retention's cutoff expire (read as absent, deleted by
the next computation: ``use_cases.recommendations``; docs/recommendations.md). Nothing refers
to a row: a draft experiment made of one copies what it needs into its spec."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from phoenix_core.recommendations.model import Recommendation
from phoenix_core.store.tables import RecommendationRow
from phoenix_core.store.types import utcnow

__all__ = ["RecommendationRepository"]

log = logging.getLogger(__name__)


class RecommendationRepository:
    """Recommendations by id: saved (inserted or replaced), read and expired."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def save(
        self,
        recommendations: Sequence[Recommendation],
        *,
        actor: str,
        computed_at: datetime | None = None,
    ) -> None:
        """Store each, computed at ``computed_at`` (default now), replacing the document stored
        under its id (a concurrent save of the same id wins or loses as a whole: both are
        computations of the same proposal)."""
        if not recommendations:
            return
        ids = [recommendation.id for recommendation in recommendations]
        existing = {
            row.id: row
            for row in self._session.scalars(
                select(RecommendationRow).where(RecommendationRow.id.in_(ids))
            )
        }
        now = computed_at or utcnow()
        for recommendation in recommendations:
            document = recommendation.model_dump(mode="json")
            row = existing.get(recommendation.id)
            if row is not None:
                row.document, row.computed_by, row.computed_at = document, actor, now
                continue
            try:
                with self._session.begin_nested():
                    self._session.add(
                        RecommendationRow(
                            id=recommendation.id,
                            kind=recommendation.kind.value,
                            document=document,
                            computed_by=actor,
                            computed_at=now,
                        )
                    )
            except IntegrityError:  # saved meanwhile by another request: replace it
                found = self._session.get(RecommendationRow, recommendation.id)
                if found is not None:
                    found.document, found.computed_by, found.computed_at = document, actor, now

    def get(
        self, recommendation_id: str, *, computed_since: datetime | None = None
    ) -> Recommendation | None:
        """The recommendation stored under ``recommendation_id``, or None: also when it was last
        computed before ``computed_since`` (expired, not deleted yet) and for a document a later
        Phoenix can no longer read (either is computed again by listing)."""
        row = self._session.get(RecommendationRow, recommendation_id)
        if row is None or (computed_since is not None and row.computed_at < computed_since):
            return None
        try:
            return Recommendation.model_validate(row.document)
        except ValidationError as exc:
            log.warning(
                "stored recommendation %s no longer validates: %s",
                recommendation_id,
                exc,
                extra={"action": "recommendation_skipped"},
            )
            return None

    def expire(self, computed_before: datetime) -> int:
        """Delete every recommendation last computed before ``computed_before``; how many.
        One statement: a row computed again meanwhile (its ``computed_at`` moved on) no longer
        matches, on PostgreSQL too, where the delete re-checks a row it waited for."""
        deleted = self._session.execute(
            delete(RecommendationRow).where(RecommendationRow.computed_at < computed_before)
        )
        count = int(deleted.rowcount)  # type: ignore[attr-defined]
        if count:
            log.info(
                "deleted %d recommendations last computed before %s",
                count,
                computed_before.isoformat(),
                extra={"action": "recommendations_expired"},
            )
        return count
