"""An incomplete usage (a query that failed to parse could read anything): every candidate
refused by default; accepted (``accept_incomplete_usage``), the recommendations are computed
from the queries that parsed and each, its draft experiment and the CLI say which failed."""

from __future__ import annotations

import pytest

from phoenix_api.cli.recommendations import detail_lines, recommendation_lines
from phoenix_core.recommendations import Kind, Recommendation
from phoenix_core.recommendations.completeness import completeness
from phoenix_core.usage import QueryUsage, queries_from_list
from phoenix_core.use_cases.recommendations import ExperimentDraft, draft_spec
from support.recommending import run, shop_usage
from support.shop import MEMORY, QUEUE

BROKEN = "sum(rate(shop_process_memory_bytes[5m])"  # reads memory, but cut short
WARNING = (
    "1 query of broken-queries@1 failed to parse and could read any metric: this "
    "recommendation may break it"
)


def _source(name: str, *queries: str) -> tuple[str, list[QueryUsage]]:
    return name, queries_from_list("\n".join(queries), name.partition("@")[0])


def test_a_complete_usage_says_nothing() -> None:
    said = completeness([_source("shop-queries@1", "up")], accept=True)
    assert said.complete and said.refused is None and said.recommendation_warning is None
    assert (said.set_warning, said.note) == (None, None)


def test_a_failed_query_refuses_everything_by_default() -> None:
    said = completeness([_source("shop@1", "up"), _source("broken@3", "up", BROKEN)], accept=False)
    assert not said.complete and said.recommendation_warning is None
    assert said.refused is not None
    assert said.refused.startswith(
        "the usage is incomplete: 1 query failed to parse, and an unparsed query could read "
        "anything (first: broken:2: "
    )
    assert said.refused.endswith(
        "fix them, leave their sources out, or accept_incomplete_usage to recommend from the "
        "queries that parsed"
    )


@pytest.mark.parametrize(
    ("sources", "said", "them"),
    [
        ([_source("shop@1", "up"), _source("broken@1", BROKEN)], "1 query of broken@1", "it"),
        (
            [_source("a@1", BROKEN, "up", BROKEN), _source("b@2", "up"), _source("c@4", BROKEN)],
            "2 queries of a@1 and 1 of c@4",
            "them",
        ),
        (
            [_source("a@1", BROKEN), _source("b@2", BROKEN), _source("c@4", BROKEN, BROKEN)],
            "1 query of a@1, 1 of b@2 and 2 of c@4",
            "them",
        ),
    ],
)
def test_accepted_the_warning_names_how_many_failed_and_where(
    sources: list[tuple[str, list[QueryUsage]]], said: str, them: str
) -> None:
    found = completeness(sources, accept=True)
    assert not found.complete and found.refused is None
    assert found.recommendation_warning == (
        f"{said} failed to parse and could read any metric: this recommendation may break {them}"
    )
    assert found.set_warning == (
        f"{said} failed to parse and could read any metric: the recommendations were computed "
        f"from the queries that parsed (accept_incomplete_usage), and each may break {them}"
    )
    assert found.note is not None and found.note.startswith(
        f"recommended from the queries that parsed (accept_incomplete_usage): {said} failed"
    )


def test_no_source_is_refused_even_when_accepted() -> None:
    said = completeness([], accept=True)
    assert not said.complete and said.recommendation_warning is None
    assert said.refused is not None and said.refused.startswith("no usage source is stored")
    assert said.refused.endswith(
        "accept_incomplete_usage accepts queries that failed to parse, not a usage that is missing"
    )
    assert "accept_incomplete_usage" not in str(completeness([], accept=False).refused)


def test_accepted_every_recommendation_carries_the_warning() -> None:
    usage = shop_usage(BROKEN)  # its record is an error: it reads nothing anyone can tell
    outcome = run(usage=usage, usage_warning=WARNING)
    assert [(r.kind, r.metrics) for r in outcome.recommendations][1:] == [
        (Kind.DROP_UNREAD_METRICS, [MEMORY, QUEUE]),
        (Kind.DROP_METRIC, [MEMORY]),
        (Kind.DROP_METRIC, [QUEUE]),
    ]
    assert [r.usage.warning for r in outcome.recommendations] == [WARNING] * 4
    assert all(r.usage is None or r.usage.warning is None for r in outcome.refusals)
    assert all(r.usage.warning is None for r in run().recommendations)


def _memory(warning: str | None) -> Recommendation:
    outcome = run(usage_warning=warning)
    return next(r for r in outcome.recommendations if r.title == f"drop metric {MEMORY}")


def test_a_draft_of_a_recommendation_computed_from_an_incomplete_usage_says_so_first() -> None:
    draft = ExperimentDraft(hosts=["web-1"])
    warned = draft_spec(_memory(WARNING), draft)["description"]
    plain = draft_spec(_memory(None), draft)["description"]
    assert warned == f"Computed from an incomplete usage: {WARNING}. {plain}"
    assert "incomplete" not in plain
    given = ExperimentDraft(hosts=["web-1"], description="x" * 5000)
    kept = draft_spec(_memory(WARNING), given)["description"]
    assert len(kept) == 4000 and kept.startswith(f"Computed from an incomplete usage: {WARNING}.")


def test_the_cli_shows_the_warnings() -> None:
    memory = _memory(WARNING).model_dump(mode="json")
    assert f"  warning: {WARNING}" in detail_lines(memory)
    assert not [
        line for line in detail_lines(_memory(None).model_dump(mode="json")) if "warn" in line
    ]
    answer = {
        "start": "2026-12-01T11:00:00Z",
        "end": "2026-12-01T12:00:00Z",
        "selector": "{}",
        "collector": "prometheus-agent",
        "usage_sources": ["broken-queries@1"],
        "usage_complete": False,
        "usage_warning": "1 query of broken-queries@1 failed to parse …",
        "currency": "USD",
        "monthly_cost": None,
        "total_series": 1,
        "metric_count": 1,
        "price_book": "grafana-cloud-pro",
        "fleet_hosts": 1,
        "scrape_interval_seconds": 15,
        "recommendations": [],
        "recommendation_count": 0,
        "refusals": [],
        "refusal_count": 0,
        "notes": [],
    }
    lines = recommendation_lines(answer)
    assert lines[2:4] == [
        "  savings under grafana-cloud-pro on 1 hosts, a sample every 15 s",
        "  warning: 1 query of broken-queries@1 failed to parse …",
    ]
    assert "  warning:" not in "\n".join(recommendation_lines(answer | {"usage_warning": None}))
