"""The recommendations use case on a real store, on SQLite and PostgreSQL, over the shop of
tests/e2e/test_recommendations.py with its inventory and series served from memory
(``support.recommending.shop_use_case``; the e2e test asks a real Prometheus): an incomplete
usage refuses everything unless it is accepted, and then every recommendation, stored and
drafted, says which queries failed; stored recommendations expire after the retention, at
compute time, and a draft made of one outlives it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from phoenix_core.clock import utcnow
from phoenix_core.errors import NotFound
from phoenix_core.recommendations import RecommendationSet
from phoenix_core.store.experiments import ExperimentRepository
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.recommendations import RecommendationRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tables import Base, RecommendationRow
from phoenix_core.use_cases.recommendations import ExperimentDraft, RecommendationQuery
from phoenix_core.use_cases.usage import add_version
from phoenix_core.wire.tasks import CollectorKind
from support.recommending import CRITICAL, shop_use_case
from support.shop import FIXTURES, MEMORY, QUEUE, USAGE_FILES

SHOP = ["shop-rules", "shop-dashboard", "shop-queries"]
WARNING = (
    "1 query of broken-queries@1 failed to parse and could read any metric: this "
    "recommendation may break it"
)


@pytest.fixture
def shop_store(store: Store) -> Store:
    """The store with the shop's usage files (the broken one too) and a host, web-1."""
    with store.session() as session:
        for name, kind, file in USAGE_FILES:
            add_version(session, name, kind, (FIXTURES / file).read_text(), actor="user:olga")
        HostRepository(session).register("web-1", actor="t")
    return store


def _query(**given: Any) -> RecommendationQuery:
    end = utcnow()
    asked: dict[str, Any] = {
        "start": end - timedelta(minutes=5),
        "end": end,
        "critical_selectors": CRITICAL,
        "fleet_hosts": 2000,
        "scrape_interval_seconds": 60,
        "top_k": 5,
    }
    return RecommendationQuery(**(asked | given))


def _titles(answer: RecommendationSet) -> list[str]:
    return [r.title for r in answer.recommendations]


def test_an_incomplete_usage_refuses_everything_unless_accepted(shop_store: Store) -> None:
    use_case = shop_use_case(shop_store)
    refused = use_case.compute(_query(), actor="user:olga")  # every source: broken-queries too
    assert refused.recommendations == [] and refused.usage_complete is False
    assert (refused.accept_incomplete_usage, refused.usage_warning) == (False, None)
    assert refused.notes[-1].startswith(
        "nothing is proposed: the usage is incomplete: 1 query failed to parse"
    )

    accepted = use_case.compute(_query(accept_incomplete_usage=True), actor="user:olga")
    # the broken query reads memory, as far as anyone can tell: its drop is proposed anyway
    assert _titles(accepted) == [
        "keep the 5 process values with the most shop_process_cpu_seconds_total on "
        f"shop_process_cpu_seconds_total, {MEMORY}",
        f"drop the 2 unread metrics {MEMORY}, {QUEUE}",
        f"drop metric {MEMORY}",
        f"drop metric {QUEUE}",
    ]
    assert accepted.usage_complete is False and accepted.accept_incomplete_usage is True
    assert accepted.usage_warning == (
        "1 query of broken-queries@1 failed to parse and could read any metric: the "
        "recommendations were computed from the queries that parsed (accept_incomplete_usage), "
        "and each may break it"
    )
    assert [r.usage.warning for r in accepted.recommendations] == [WARNING] * 4
    assert all(r.usage is None or r.usage.warning is None for r in accepted.refusals)
    assert accepted.notes[-1].startswith(
        "recommended from the queries that parsed (accept_incomplete_usage): 1 query of "
        "broken-queries@1 failed to parse and could read any metric (first: broken-queries:2: "
    )

    memory = accepted.recommendations[2]
    stored = use_case.get(memory.id)
    assert stored.usage.warning == WARNING and stored == memory
    draft = use_case.experiment(memory.id, ExperimentDraft(hosts=["web-1"]), actor="user:olga")
    assert draft.spec.description.startswith(f"Computed from an incomplete usage: {WARNING}. ")
    assert f"Recommendation {memory.id} (drop_metric)" in draft.spec.description
    mine = ExperimentDraft(hosts=["web-1"], description="Cut memory.")
    written = use_case.experiment(memory.id, mine, actor="user:olga")
    assert written.spec.description == f"Computed from an incomplete usage: {WARNING}. Cut memory."


def test_computed_again_from_a_complete_usage_the_warning_goes(shop_store: Store) -> None:
    use_case = shop_use_case(shop_store)
    accepted = use_case.compute(_query(accept_incomplete_usage=True), actor="user:olga")
    complete = use_case.compute(
        _query(usage_sources=SHOP, accept_incomplete_usage=True), actor="user:olga"
    )
    assert complete.usage_complete is True and complete.usage_warning is None
    assert _titles(complete) == _titles(accepted)  # the same proposals, the same ids
    for recommendation in complete.recommendations:
        assert use_case.get(recommendation.id).usage.warning is None
    draft = use_case.experiment(
        complete.recommendations[1].id, ExperimentDraft(hosts=["web-1"]), actor="user:olga"
    )
    assert "incomplete" not in draft.spec.description


def test_no_usage_source_refuses_everything_even_when_accepted(store: Store) -> None:
    answer = shop_use_case(store).compute(_query(accept_incomplete_usage=True), actor="t")
    assert answer.recommendations == [] and answer.usage_complete is False
    assert answer.usage_warning is None
    assert answer.notes[-1] == (
        "nothing is proposed: no usage source is stored, so nothing says who reads what: upload "
        "the rule files, dashboards and query lists that read these metrics (phoenix usage "
        "add); accept_incomplete_usage accepts queries that failed to parse, not a usage that "
        "is missing"
    )


def _computed_at(store: Store, ids: Sequence[str], when: datetime) -> None:
    """Make ``ids`` last computed at ``when`` (time passing, for the retention)."""
    with store.session() as session:
        session.execute(
            update(RecommendationRow)
            .where(RecommendationRow.id.in_(list(ids)))
            .values(computed_at=when)
        )


def _stored(store: Store) -> set[str]:
    with store.session() as session:
        return set(session.scalars(select(RecommendationRow.id)))


def test_computing_deletes_what_expired_and_keeps_what_it_computed_again(
    shop_store: Store,
) -> None:
    use_case = shop_use_case(shop_store)
    agent = [r.id for r in use_case.compute(_query(usage_sources=SHOP), actor="t").recommendations]
    otelcol = [
        r.id
        for r in use_case.compute(
            _query(usage_sources=SHOP, collector=CollectorKind.OTELCOL), actor="t"
        ).recommendations
    ]
    assert len(agent) == 4 and len(otelcol) == 5 and not set(agent) & set(otelcol)
    now = utcnow()
    _computed_at(shop_store, [*agent, *otelcol[1:]], now - timedelta(days=31))
    _computed_at(shop_store, otelcol[:1], now - timedelta(days=29))

    # expired, not yet deleted: absent all the same
    for expired in (agent[0], otelcol[1]):
        with pytest.raises(NotFound) as missing:
            use_case.get(expired)
        assert str(missing.value) == (
            f"No recommendation '{expired}' is stored: it expired (a recommendation is kept 30 "
            "days after it was last computed) or was never computed. List them again (GET "
            "/api/v1/recommendations) to compute it again."
        )
    assert use_case.get(otelcol[0]).id == otelcol[0]

    # prometheus-agent's again: computed again, they stay; otelcol's older than 30 days go
    use_case.compute(_query(usage_sources=SHOP), actor="t")
    assert _stored(shop_store) == {*agent, otelcol[0]}
    assert [use_case.get(i).id for i in agent] == agent
    with pytest.raises(NotFound, match="it expired"):
        use_case.get(otelcol[1])


def test_the_retention_is_the_use_cases(shop_store: Store) -> None:
    use_case = shop_use_case(shop_store, retention=timedelta(days=1))
    ids = [r.id for r in use_case.compute(_query(usage_sources=SHOP), actor="t").recommendations]
    _computed_at(shop_store, ids[:1], utcnow() - timedelta(hours=25))
    with pytest.raises(NotFound, match=r"it expired \(a recommendation is kept 1 day after"):
        use_case.get(ids[0])
    # an hour later by the use case's clock: the rest expire too, once it computes again
    later = shop_use_case(
        shop_store, retention=timedelta(hours=1), clock=lambda: utcnow() + timedelta(hours=2)
    )
    later.compute(_query(usage_sources=SHOP, collector=CollectorKind.OTELCOL), actor="t")
    assert not _stored(shop_store) & set(ids)


def test_a_draft_outlives_the_recommendation_it_was_made_of(shop_store: Store) -> None:
    use_case = shop_use_case(shop_store)
    best = use_case.compute(_query(usage_sources=SHOP), actor="t").recommendations[0]
    draft = use_case.experiment(best.id, ExperimentDraft(hosts=["web-1"]), actor="user:olga")
    _computed_at(shop_store, [best.id], utcnow() - timedelta(days=31))
    use_case.compute(_query(usage_sources=SHOP, collector=CollectorKind.OTELCOL), actor="t")
    assert best.id not in _stored(shop_store)
    with shop_store.session() as session:
        kept = ExperimentRepository(session).get(draft.id)
    assert kept == draft
    assert kept.spec.variants[1].variables == best.pipeline.variables
    # nothing refers to a stored recommendation: no foreign key to delete through or around
    assert not [
        key
        for table in Base.metadata.tables.values()
        for key in table.foreign_keys
        if key.column.table.name == "recommendations"
    ]


def test_the_repository_expires_by_the_last_computation(shop_store: Store) -> None:
    store = shop_store
    made = shop_use_case(store).compute(_query(usage_sources=SHOP), actor="t").recommendations
    now = utcnow()
    with store.session() as session:
        stored = RecommendationRepository(session)
        stored.save(made[:1], actor="t", computed_at=now - timedelta(days=3))
        stored.save(made[1:2], actor="t", computed_at=now - timedelta(days=1))
    with store.session() as session:
        stored = RecommendationRepository(session)
        assert stored.get(made[0].id, computed_since=now - timedelta(days=2)) is None
        assert stored.get(made[0].id) == made[0]
        assert stored.expire(now - timedelta(days=2)) == 1
        assert stored.expire(now - timedelta(days=2)) == 0
        assert stored.get(made[0].id) is None and stored.get(made[1].id) == made[1]
