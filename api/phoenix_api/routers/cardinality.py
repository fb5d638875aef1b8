"""``/api/v1/cardinality``: the inventory of the series a selector matches in the receiving
Prometheus (``PHOENIX_CONTROLLER_PROMETHEUS_URL``) over a window.

Every count is of series (unit: series; ``values`` counts label values) over
``[start, end]``; what each means and the queries: ``phoenix_core.metrics.inventory`` and
``docs/cardinality.md``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from phoenix_api.deps import services
from phoenix_api.series_window import SeriesWindowQuery
from phoenix_core.errors import ValidationFailed
from phoenix_core.metrics.inventory import Inventory
from phoenix_core.use_cases.cardinality import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/api/v1/cardinality", tags=["cardinality"])


class MetricRow(BaseModel):
    metric: str
    series: int = Field(description="Series of the metric in the window (series).")
    created: int = Field(description="Of those, not present at start (series).")
    ended: int = Field(description="Of those, not present at end (series).")


class LabelRow(BaseModel):
    metric: str
    label: str
    values: int = Field(
        description="Distinct non-empty values of the label among the metric's series in the "
        "window (values): the factor it multiplies the metric's series by, at most."
    )


class PairRow(BaseModel):
    label: str
    value: str
    series: int = Field(
        description='Series in the window, over every metric, carrying label="value" (series).'
    )


class QueryRow(BaseModel):
    purpose: str
    query: str = Field(description="The PromQL (evaluated at end), or the HTTP API call.")
    seconds: float = Field(description="Wall time of its calls as Phoenix saw it (s).")
    rows: int = Field(description="Rows (or values) answered.")
    calls: int = Field(description="Calls it stands for (index calls are one per label).")


class CardinalityAnswer(BaseModel):
    """The series a selector matches in the receiving Prometheus over ``[start, end]``.

    A series is in the window when it has a sample in ``[start, end]``; present at an
    instant when an instant query then returns it (its latest sample within the lookback, not
    a staleness marker); created: in the window, not present at start; ended: in the window,
    not present at end. Tables biggest first, cut to ``limit`` rows."""

    selector: str
    start: datetime
    end: datetime
    window_seconds: float = Field(description="end - start (s).")
    limit: int
    total_series: int = Field(description="Series in the window (series).")
    created: int = Field(description="Series in the window not present at start (series).")
    ended: int = Field(description="Series in the window not present at end (series).")
    metric_count: int = Field(description="Metric names with a series in the window.")
    label_count: int = Field(description="(metric, label) rows before the limit.")
    metrics: list[MetricRow] = Field(description="Per metric, most series first.")
    labels: list[LabelRow] = Field(description="Per metric and label, most values first.")
    pairs: list[PairRow] = Field(description="Label-value pairs, most series first.")
    queries: list[QueryRow] = Field(description="Every question asked of Prometheus.")


@router.get(
    "",
    response_model=CardinalityAnswer,
    responses={503: {"description": "The receiving Prometheus does not answer."}},
)
def cardinality(
    request: Request,
    window: SeriesWindowQuery,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Rows of each table.")
    ] = DEFAULT_LIMIT,
) -> CardinalityAnswer:
    """Series per metric, each label's distinct values per metric, the biggest label-value
    pairs, and the series created and ended in the window."""
    try:
        inventory = services(request).cardinality.inventory(
            window.selector, window.start, window.end, limit
        )
    except ValidationFailed as exc:
        raise exc.under("query") from None
    return answer(inventory)


def answer(inventory: Inventory) -> CardinalityAnswer:
    """The inventory as the API's answer."""
    return CardinalityAnswer(
        selector=inventory.selector,
        start=inventory.start,
        end=inventory.end,
        window_seconds=inventory.window_seconds,
        limit=inventory.limit,
        total_series=inventory.total_series,
        created=inventory.created,
        ended=inventory.ended,
        metric_count=inventory.metric_count,
        label_count=inventory.label_count,
        metrics=[MetricRow.model_validate(row) for row in inventory.metrics.to_dict("records")],
        labels=[LabelRow.model_validate(row) for row in inventory.labels.to_dict("records")],
        pairs=[PairRow.model_validate(row) for row in inventory.pairs.to_dict("records")],
        queries=[QueryRow(**vars(query)) for query in inventory.queries],
    )
