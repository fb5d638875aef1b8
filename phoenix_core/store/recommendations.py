"""Computed recommendations in the store, each under the id that names its proposal: computing
one again replaces its document, so the id always resolves to its latest forecast, savings and
evidence (``use_cases.recommendations``; docs/recommendations.md)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from phoenix_core.recommendations.model import Recommendation
from phoenix_core.store.tables import RecommendationRow
from phoenix_core.store.types import utcnow

__all__ = ["RecommendationRepository"]

log = logging.getLogger(__name__)


class RecommendationRepository:
    """Recommendations by id: saved (inserted or replaced) and read."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def save(self, recommendations: Sequence[Recommendation], *, actor: str) -> None:
        """Store each, replacing the document stored under its id (a concurrent save of the
        same id wins or loses as a whole: both are computations of the same proposal)."""
        if not recommendations:
            return
        ids = [recommendation.id for recommendation in recommendations]
        existing = {
            row.id: row
            for row in self._session.scalars(
                select(RecommendationRow).where(RecommendationRow.id.in_(ids))
            )
        }
        now = utcnow()
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

    def get(self, recommendation_id: str) -> Recommendation | None:
        """The recommendation stored under ``recommendation_id``, or None (also for a document
        a later Phoenix can no longer read: it is computed again by listing)."""
        row = self._session.get(RecommendationRow, recommendation_id)
        if row is None:
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
