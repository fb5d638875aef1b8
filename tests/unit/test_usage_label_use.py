"""LabelUse: one answer to "does a query depend on label L?", and its union over queries."""

from __future__ import annotations

import pytest

from phoenix_core.pipelines.selectors import Matcher
from phoenix_core.usage import ANY_METRIC, LabelUse, MetricRef


def test_named_labels_only() -> None:
    use = LabelUse.named(["job", "le"])
    assert use.uses("job")
    assert use.uses("le")
    assert not use.uses("instance")
    assert str(use) == "job, le"


def test_every_label_but_the_removed_ones() -> None:
    use = LabelUse.every(names=["job"], but=["pid"])
    assert use.uses("job")
    assert use.uses("instance")
    assert not use.uses("pid")
    assert str(use) == "all labels except pid (named: job)"


def test_a_named_label_is_used_whatever_removes_it() -> None:
    assert LabelUse.every(names=["pid"], but=["pid"]) == LabelUse.every(names=["pid"])


def test_all_except_means_nothing_without_all_labels() -> None:
    assert LabelUse(names=frozenset({"a"}), all_except=frozenset({"b"})) == LabelUse.named(["a"])


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (LabelUse.named(["a"]), LabelUse.named(["b"]), LabelUse.named(["a", "b"])),
        # both all-but: a label is unused only if both leave it out
        (
            LabelUse.every(but=["pid", "tid"]),
            LabelUse.every(but=["pid", "cpu"]),
            LabelUse.every(but=["pid"]),
        ),
        # all-but one and named: the named labels are taken out of the exception
        (
            LabelUse.every(but=["pid", "tid"]),
            LabelUse.named(["tid"]),
            LabelUse.every(names=["tid"], but=["pid"]),
        ),
        (LabelUse.named(["a"]), LabelUse.every(), LabelUse.every(names=["a"])),
        (LabelUse(), LabelUse(), LabelUse()),
    ],
)
def test_union_uses_a_label_when_either_does(
    left: LabelUse, right: LabelUse, expected: LabelUse
) -> None:
    assert left | right == expected
    assert right | left == expected
    for label in ("a", "b", "pid", "tid", "cpu", "job"):
        assert expected.uses(label) == (left.uses(label) or right.uses(label))


def test_metric_ref_exact_and_patterns() -> None:
    assert MetricRef.exact("up").matches("up")
    assert not MetricRef.exact("up").matches("up2")
    pattern = MetricRef.pattern(Matcher("__name__", "=~", "node_(load1|load5)"))
    assert pattern.key == '{__name__=~"node_(load1|load5)"}'
    assert pattern.matches("node_load5")
    assert not pattern.matches("node_load15")  # anchored, as in Prometheus
    assert ANY_METRIC.matches("x")
    with pytest.raises(ValueError, match="__name__"):
        MetricRef.pattern(Matcher("job", "=", "api"))
