"""``/api/v1/recommendations``: reductions proposed from the inventory of the receiving
Prometheus and the usage of its metrics, ranked by savings, each with its forecast, savings,
usage evidence and critical selectors; and a draft experiment made of one.

What each field means: ``phoenix_core.recommendations.model`` and docs/recommendations.md.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from phoenix_api.deps import Operator, caller, services
from phoenix_api.series_window import SeriesWindowQuery
from phoenix_core.errors import ValidationFailed
from phoenix_core.recommendations import Recommendation, RecommendationSet
from phoenix_core.store.experiments import ExperimentRecord
from phoenix_core.use_cases.cost import DEFAULT_PRICE_BOOK
from phoenix_core.use_cases.recommendations import (
    DEFAULT_LIMIT,
    DEFAULT_SCRAPE_INTERVAL,
    DEFAULT_TOP_K,
    ExperimentDraft,
    RecommendationQuery,
)
from phoenix_core.wire.tasks import CollectorKind

router = APIRouter(prefix="/api/v1/recommendations", tags=["recommendations"])

RecommendationId = Annotated[
    str, Path(pattern=r"^[0-9a-f]{16}$", description="A recommendation's id (16 hex digits).")
]


@router.get(
    "",
    response_model=RecommendationSet,
    responses={
        404: {"description": "An unknown price book or usage source."},
        503: {"description": "The receiving Prometheus does not answer."},
    },
)
def recommendations(
    request: Request,
    *,
    window: SeriesWindowQuery,
    usage_sources: Annotated[
        str | None,
        Query(
            max_length=10_000,
            description="Comma-separated usage sources, NAME or NAME@VERSION (default: the "
            "latest version of every source).",
        ),
    ] = None,
    critical_selectors: Annotated[
        list[str] | None,
        Query(
            max_length=100,
            description="Series selectors no recommendation may remove (repeat the parameter).",
        ),
    ] = None,
    collector: Annotated[
        CollectorKind, Query(description="The collector the pipelines would run on.")
    ] = CollectorKind.PROMETHEUS_AGENT,
    price_book: Annotated[
        str, Query(min_length=1, max_length=100, description="A price book's name.")
    ] = DEFAULT_PRICE_BOOK,
    fleet_hosts: Annotated[
        int,
        Query(
            ge=1,
            le=10_000_000,
            description="Times the series counted are billed (1: the selector covers the fleet).",
        ),
    ] = 1,
    scrape_interval_seconds: Annotated[
        float, Query(gt=0, le=86_400, description="Each series' interval, for samples/s.")
    ] = DEFAULT_SCRAPE_INTERVAL,
    top_k: Annotated[int, Query(ge=1, le=10_000, description="k of the top-k proposals.")] = (
        DEFAULT_TOP_K
    ),
    limit: Annotated[
        int, Query(ge=1, le=10_000, description="Recommendations and refusals listed, each.")
    ] = DEFAULT_LIMIT,
    accept_incomplete_usage: Annotated[
        bool,
        Query(
            description="Recommend even while some usage queries failed to parse, from the "
            "queries that did: a query that failed could read anything a recommendation "
            "removes. usage_complete stays false; usage_warning, and every recommendation's "
            "usage.warning (kept with it, and put in a draft's description), say how many "
            "failed and in which sources. Default false: nothing is proposed while one fails. "
            "No usage source stored: nothing is proposed either way.",
        ),
    ] = False,
) -> RecommendationSet:
    """Drop unread metrics (and, when several are, all of them in one step), drop labels no
    query depends on (summing the series that merge, where the collector can), keep the top k
    of labels that look like processes, pods or ids; each forecast on the real series, priced
    under ``price_book`` and ranked by savings, with the usage evidence; and the reductions
    considered and refused, with why. Every computed recommendation is kept under its id
    (``POST …/{id}/experiment``); those last computed longer ago than the retention
    (``PHOENIX_RECOMMENDATIONS_RETENTION_DAYS``) are deleted."""
    query = RecommendationQuery(
        selector=window.selector,
        start=window.start,
        end=window.end,
        usage_sources=None
        if usage_sources is None
        else [s.strip() for s in usage_sources.split(",") if s.strip()],
        critical_selectors=tuple(critical_selectors or ()),
        collector=collector,
        price_book=price_book,
        fleet_hosts=fleet_hosts,
        scrape_interval_seconds=scrape_interval_seconds,
        top_k=top_k,
        limit=limit,
        accept_incomplete_usage=accept_incomplete_usage,
    )
    try:
        return services(request).recommendations.compute(query, actor=caller(request).actor)
    except ValidationFailed as exc:
        raise _renamed(exc).under("query") from None


def _renamed(exc: ValidationFailed) -> ValidationFailed:
    """``sources`` (what ``use_cases.usage`` calls them) is ``usage_sources`` here."""
    if not any(error.loc[:1] == ("sources",) for error in exc.errors):
        return exc
    return ValidationFailed(
        [
            type(error)(("usage_sources", *error.loc[1:]), error.message)
            if error.loc[:1] == ("sources",)
            else error
            for error in exc.errors
        ]
    )


@router.get(
    "/{recommendation_id}",
    response_model=Recommendation,
    responses={
        404: {
            "description": "No recommendation is stored under this id: it expired "
            "(PHOENIX_RECOMMENDATIONS_RETENTION_DAYS after it was last computed) or was never "
            "computed; list them again."
        }
    },
)
def recommendation(recommendation_id: RecommendationId, request: Request) -> Recommendation:
    """A recommendation as last computed; one last computed longer ago than the retention
    (``PHOENIX_RECOMMENDATIONS_RETENTION_DAYS``, 30 days by default) has expired: 404, list
    them again to compute it again."""
    return services(request).recommendations.get(recommendation_id)


@router.post(
    "/{recommendation_id}/experiment",
    response_model=ExperimentRecord,
    status_code=201,
    responses={404: {"description": "No recommendation is stored under this id (or it expired)."}},
)
def experiment(
    recommendation_id: RecommendationId,
    draft: ExperimentDraft,
    principal: Operator,
    request: Request,
    response: Response,
) -> ExperimentRecord:
    """A draft experiment of the baseline against the recommended pipeline, on ``hosts`` or
    ``host_selector``, scraping the targets the recommendation's series came from (or
    ``sources``), with its critical selectors and usage sources: start it as it is."""
    try:
        record = services(request).recommendations.experiment(
            recommendation_id, draft, actor=principal.actor
        )
    except ValidationFailed as exc:
        raise exc.under("body") from None  # the body's fields, as FastAPI names its own
    response.headers["Location"] = f"/api/v1/experiments/{record.id}"
    response.headers["ETag"] = f'"{record.version}"'
    return record
