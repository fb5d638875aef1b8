"""Grafana template variables replaced before parsing, as mimirtool does (and a little more)."""

from __future__ import annotations

import pytest

from phoenix_core.usage import substitute_variables

DASHBOARD = {"job": "node", "k": "5", "group": None, "window": None, "instance": None}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # built-ins take mimirtool's values
        ("rate(x[$__rate_interval])", "rate(x[15s])"),
        ("rate(x[${__rate_interval}])", "rate(x[15s])"),
        ("rate(x[$__interval])", "rate(x[5m])"),
        ("increase(x[$__range]) / $__range_s", "increase(x[1d]) / 30"),
        ("x * $__interval_ms", "x * 300000"),
        ("rate(x[$__auto_interval_window])", "rate(x[5m])"),
        # a dashboard variable in a string becomes a value that matches
        ('x{job=~"$job"}', 'x{job=~".*"}'),
        ('x{job="${job:regex}"}', 'x{job=".*"}'),
        ('x{instance="[[instance]]"}', 'x{instance=".*"}'),
        ("x{job='$job'}", "x{job='.*'}"),
        # outside strings: the current value
        ("topk($k, x)", "topk(5, x)"),
        ("${job}_up", "node_up"),
        # no value known: ranges fall back to mimirtool's 5m and 1m ...
        ("rate(x[$window])", "rate(x[5m])"),
        ("max_over_time(x[${window}:$window])", "max_over_time(x[5m:1m])"),
        # ... anything else stays, and the parser says so
        ("sum by ($group) (x)", "sum by ($group) (x)"),
        # a name Grafana does not know is not a variable: label_replace's $1 stays
        ('label_replace(x, "a", "$1", "b", "(.*)")', 'label_replace(x, "a", "$1", "b", "(.*)")'),
        ("x[[[interval]]]", "x[5m]"),
        ("up", "up"),
    ],
)
def test_substitution(query: str, expected: str) -> None:
    assert substitute_variables(query, DASHBOARD) == expected


def test_a_dashboard_variable_shadows_a_builtin_name() -> None:
    assert substitute_variables("rate(x[$interval])", {"interval": "1h"}) == "rate(x[1h])"
    assert substitute_variables("rate(x[$interval])") == "rate(x[5m])"


def test_escaped_quotes_do_not_end_a_string() -> None:
    query = 'x{a="say \\"$job\\"", b="$job"}'
    assert substitute_variables(query, DASHBOARD) == 'x{a="say \\".*\\"", b=".*"}'
