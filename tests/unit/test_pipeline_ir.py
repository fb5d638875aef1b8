"""The pipeline IR: parsing, errors that name the step and field, and a fuzz test for crashes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phoenix_core.errors import ValidationFailed
from phoenix_core.pipelines.ir import STEP_KINDS, Pipeline, parse_pipeline
from phoenix_core.pipelines.selectors import SelectorError, parse_selector


def _error_paths(data: Any) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_pipeline(data)
    return [e.path for e in caught.value.errors]


@pytest.mark.parametrize(
    ("step", "path"),
    [
        ({"teleport": {}}, "steps.0"),
        ({"keep_metrics": {"regex": "("}}, "steps.0.regex"),
        ({"keep_metrics": {"regex": "(?!x)"}}, "steps.0.regex"),
        ({"top_k": {"metric": "m", "k": -1, "by_label": "p"}}, "steps.0.k"),
        ({"top_k": {"metric": "m", "k": 2.5, "by_label": "p"}}, "steps.0.k"),
        ({"filter_below": {"metric": "m", "threshold": "low"}}, "steps.0.threshold"),
        ({"filter_below": {"metric": "m", "threshold": True}}, "steps.0.threshold"),
        ({"filter_below": {"metric": "m"}}, "steps.0.threshold"),
        ({"drop_labels": {"labels": ["__name__"]}}, "steps.0.labels"),
        ({"drop_labels": {"labels": ["phoenix_variant"]}}, "steps.0.labels"),
        ({"drop_labels": {"labels": []}}, "steps.0.labels"),
        ({"aggregate": {"by": ["a"], "fn": "median"}}, "steps.0.fn"),
        ({"sample": {"hash_label": "u", "keep_fraction": 0}}, "steps.0.keep_fraction"),
        ({"protect": {"selectors": ["{a="]}}, "steps.0.selectors"),
        ({"protect": {"selectors": ['{a=~".*"}']}}, "steps.0.selectors"),
        ({"keep_series": {"label": "9bad", "regex": "x"}}, "steps.0.label"),
        ({"keep_series": {"label": "a", "regex": "x", "extra": 1}}, "steps.0.extra"),
    ],
)
def test_bad_steps_name_step_and_field(step: dict[str, Any], path: str) -> None:
    assert path in _error_paths({"steps": [step]})


def test_round_trip_through_the_document_form() -> None:
    document = {
        "steps": [
            {"protect": {"selectors": ['up{job="node"}']}},
            {"keep_series": {"label": "env", "regex": "prod", "metrics": "http_.*"}},
            {"top_k": {"metric": "cpu", "k": 3, "by_label": "process"}},
            {"sample": {"hash_label": "user", "keep_fraction": 0.1}},
        ],
        "refresh_seconds": 30,
    }
    pipeline = parse_pipeline(document)
    assert pipeline.to_document() == document
    assert parse_pipeline(pipeline.to_document()) == pipeline
    assert pipeline.needs_reference_values


@pytest.mark.parametrize(
    ("text", "name", "count"),
    [("up", "up", 1), ('up{job="a",x!~"b|c"}', "up", 3), ("{a='x\\'y'}", None, 1)],
)
def test_selectors_parse(text: str, name: str | None, count: int) -> None:
    selector = parse_selector(text)
    assert selector.metric_name == name
    assert len(selector.matchers) == count


def test_selector_values_unescape() -> None:
    assert parse_selector(r'{a="x\"y\\z"}').matchers[0].value == 'x"y\\z'
    with pytest.raises(SelectorError):
        parse_selector('{a="x"')


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_param_names = st.sampled_from(
    [
        "regex",
        "metrics",
        "label",
        "labels",
        "by",
        "fn",
        "metric",
        "threshold",
        "k",
        "by_label",
        "hash_label",
        "keep_fraction",
        "selectors",
        "kind",
    ]
)
_step = st.one_of(
    _json,
    st.builds(
        lambda kind, params: {kind: params},
        st.sampled_from([*STEP_KINDS, "nope"]),
        st.dictionaries(_param_names, _json | st.text(max_size=20), max_size=5),
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_json, st.builds(lambda steps: {"steps": steps}, st.lists(_step, max_size=5))))
def test_the_parser_never_crashes(data: Any) -> None:
    try:
        assert isinstance(parse_pipeline(data), Pipeline)
    except ValidationFailed as exc:
        assert exc.errors
