"""The verdict: gates, Holm, each KPI's rule, a candidate's outcome, the overall and the winner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phoenix_core.analysis import verdict as verdict_module
from phoenix_core.analysis.comparison import compare
from phoenix_core.analysis.gates import Gate, gates_by_kpi
from phoenix_core.analysis.verdict import (
    KPI_COLUMNS,
    MIN_SAMPLES,
    Outcome,
    gate_outcome,
    holm,
    judge,
)
from phoenix_core.errors import ValidationFailed
from phoenix_core.metrics.catalog import builtin_catalog

# The verdict's mechanics are shown on these eight gates (the catalog's defaults, less the KPIs
# that only repeat their rules, and with throughput reported only); the catalog's own gates are
# held to the issue's defaults in test_default_gates_are_the_issues.
_GATE_DATA: tuple[dict[str, object], ...] = (
    {"kpi": "active_series", "unit": "series", "direction": "lower", "min_improvement": 0.20},
    {
        "kpi": "samples_per_second",
        "unit": "samples/s",
        "direction": "lower",
        "critical": False,
        "must_have_data": False,
    },
    {
        "kpi": "bytes_per_second",
        "unit": "bytes/s",
        "direction": "lower",
        "critical": False,
        "must_have_data": False,
    },
    {
        "kpi": "collector_cpu_cores",
        "unit": "cores",
        "direction": "lower",
        "max_worsening": 0.10,
        "test_spread": True,
    },
    {
        "kpi": "collector_rss_bytes",
        "unit": "bytes",
        "direction": "lower",
        "max_worsening": 0.10,
        "test_spread": True,
    },
    {
        "kpi": "failed_samples",
        "unit": "samples/s",
        "direction": "lower",
        "max_worsening": 0.0,
        "centre": "mean",
    },
    {"kpi": "critical_coverage", "unit": "%", "direction": "higher", "floor": 100.0},
    {
        "kpi": "host_balance",
        "unit": "%",
        "direction": "higher",
        "floor": 100.0,
        "must_have_data": False,
    },
)

GATE_SET = tuple(Gate.parse(data) for data in _GATE_DATA)

GATES = gates_by_kpi(GATE_SET)
SERIES = GATES["active_series"]
HEALTHY = {
    "active_series": 10_000.0,
    "collector_cpu_cores": 0.2,
    "collector_rss_bytes": 2e8,
    "failed_samples": 0.0,
    "critical_coverage": 100.0,
}


def frame(variants: dict[str, dict[str, object]], n: int = 20) -> pd.DataFrame:
    """Rows per variant and KPI: a number repeats n times, an array is taken as it is."""
    parts = []
    for variant, kpis in variants.items():
        for kpi, value in kpis.items():
            values = np.full(n, value) if np.isscalar(value) else np.asarray(value, dtype=float)
            parts.append(pd.DataFrame({"variant": variant, "kpi": kpi, "value": values}))
    return pd.concat(parts, ignore_index=True)


def test_public_api() -> None:
    assert set(verdict_module.__all__) == {
        "ALPHA",
        "KPI_COLUMNS",
        "MIN_SAMPLES",
        "TIE_MARGIN",
        "WINNER_RULE",
        "CandidateResult",
        "Outcome",
        "Verdict",
        "gate_outcome",
        "holm",
        "judge",
    }


def test_default_gates_are_the_issues() -> None:
    defaults = gates_by_kpi(builtin_catalog().gates())
    assert defaults["active_series"].min_improvement == 0.20  # series -20 % or better
    for kpi in ("collector_cpu_cores", "collector_rss_bytes"):  # CPU and RSS at most +10 %
        assert defaults[kpi].max_worsening == 0.10 and defaults[kpi].test_spread
    for kpi in ("failed_samples", "dropped_samples", "export_errors"):  # no increase
        assert defaults[kpi].max_worsening == 0.0 and defaults[kpi].centre == "mean"
        assert defaults[kpi].critical
    assert defaults["critical_coverage"].floor == 100.0 and defaults["critical_coverage"].critical
    assert defaults["host_balance"].floor == 100.0 and defaults["host_balance"].critical
    assert list(GATES) == [
        "active_series",
        "samples_per_second",
        "bytes_per_second",
        "collector_cpu_cores",
        "collector_rss_bytes",
        "failed_samples",
        "critical_coverage",
        "host_balance",
    ]
    assert GATES["active_series"].min_improvement == 0.20
    assert GATES["collector_cpu_cores"].max_worsening == 0.10
    assert GATES["collector_rss_bytes"].test_spread
    assert GATES["failed_samples"].max_worsening == 0.0
    assert GATES["failed_samples"].centre == "mean"
    assert GATES["critical_coverage"].floor == 100.0
    assert GATES["host_balance"].floor == 100.0  # every assigned host delivered
    assert not GATES["samples_per_second"].has_bound


def test_gates_refuse_contradictions() -> None:
    with pytest.raises(ValidationFailed, match="not both"):
        Gate.parse({"kpi": "x", "direction": "lower", "min_improvement": 0.2, "max_worsening": 0})
    with pytest.raises(ValidationFailed, match="max_worsening"):
        Gate.parse({"kpi": "x", "direction": "lower", "max_worsening": -0.1})
    with pytest.raises(ValidationFailed, match="direction"):
        Gate.parse({"kpi": "x", "direction": "sideways"})
    with pytest.raises(ValidationFailed, match="second gate"):
        gates_by_kpi([SERIES, SERIES])


def test_holm_by_hand() -> None:
    # sorted 0.01, 0.03, 0.04 -> 3 × 0.01, max(0.03, 2 × 0.03), max(0.06, 1 × 0.04)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])
    assert holm([]).size == 0


def test_a_clear_pass_names_the_winner() -> None:
    rng = np.random.default_rng(0)

    def noisy(level: float, sigma: float = 0.03) -> np.ndarray:
        return rng.lognormal(np.log(level), sigma, 30)

    base = {kpi: noisy(v) if v else np.zeros(30) for kpi, v in HEALTHY.items()}
    base["critical_coverage"] = np.full(30, 100.0)
    samples = frame(
        {
            "baseline": base,
            "topk": {**base, "active_series": noisy(6_500), "collector_cpu_cores": noisy(0.2)},
            "mild": {**base, "active_series": noisy(9_000)},
        },
        n=30,
    )
    result = judge(samples, "baseline", GATE_SET)
    assert result.outcome is Outcome.PASS
    assert result.winner == "topk"
    assert result.reasons[0].startswith("winner: topk")
    by_variant = {c.variant: c for c in result.candidates}
    assert by_variant["topk"].outcome is Outcome.PASS
    assert by_variant["mild"].outcome is Outcome.FAIL
    assert "short of the required 20% improvement" in by_variant["mild"].reasons[0]
    assert tuple(result.kpis.columns) == KPI_COLUMNS
    assert len(result.kpis) == 2 * len(GATES)
    # KPIs that no variant reported and that need no data are notes, not reasons
    assert any("host_balance: no data" in note for note in by_variant["topk"].notes)


def test_ties_on_series_go_to_the_lower_cpu() -> None:
    samples = frame(
        {
            "baseline": HEALTHY,
            "a": {**HEALTHY, "active_series": 6_500.0, "collector_cpu_cores": 0.21},
            "b": {**HEALTHY, "active_series": 6_460.0},  # 0.4 points more: a tie
            "c": {**HEALTHY, "active_series": 6_600.0, "collector_cpu_cores": 0.18},
        }
    )
    result = judge(samples, "baseline", GATE_SET)
    assert [c.outcome for c in result.candidates] == [Outcome.PASS] * 3
    assert result.winner == "b"  # a and b tie; b's CPU is unchanged, a's 5 % higher; c is 1.4 out


def test_every_candidate_failing_is_a_fail() -> None:
    samples = frame(
        {"baseline": HEALTHY, "same": HEALTHY, "worse": {**HEALTHY, "active_series": 11_000.0}}
    )
    result = judge(samples, "baseline", GATE_SET)
    assert result.outcome is Outcome.FAIL
    assert result.winner is None
    assert result.reasons[0] == "every candidate fails"


def test_missing_data_is_inconclusive_with_the_reason() -> None:
    nan_series = {**HEALTHY, "active_series": np.full(20, np.nan)}
    no_cpu = {k: v for k, v in HEALTHY.items() if k != "collector_cpu_cores"}
    no_cpu["active_series"] = 7_000.0
    samples = frame({"baseline": HEALTHY, "nan": nan_series, "no-cpu": no_cpu})
    result = judge(samples, "baseline", GATE_SET, candidates=["nan", "no-cpu", "absent"])
    assert result.outcome is Outcome.INCONCLUSIVE
    by_variant = {c.variant: c for c in result.candidates}
    assert by_variant["nan"].reasons == (
        "active_series: no data from the candidate (a KPI that must have data)",
    )
    assert by_variant["no-cpu"].outcome is Outcome.INCONCLUSIVE
    assert by_variant["no-cpu"].reasons == (
        "collector_cpu_cores: no data from the candidate (a KPI that must have data)",
    )
    assert by_variant["absent"].outcome is Outcome.INCONCLUSIVE
    assert len(by_variant["absent"].reasons) == 5  # every must-have KPI
    row = result.kpis.query("variant == 'nan' and kpi == 'active_series'").iloc[0]
    assert row["n_candidate"] == 0 and np.isnan(row["candidate_centre"])  # never zero


def test_too_few_samples_is_inconclusive_stating_the_minimum() -> None:
    samples = frame({"baseline": HEALTHY, "short": {**HEALTHY, "active_series": 6_000.0}}, n=5)
    result = judge(samples, "baseline", GATE_SET)
    assert result.outcome is Outcome.INCONCLUSIVE
    assert result.candidates[0].reasons[0] == (
        f"active_series: too few samples (5 baseline, 5 candidate; at least {MIN_SAMPLES} a side)"
    )


def test_a_sample_below_the_coverage_floor_fails_at_any_count() -> None:
    coverage = np.r_[np.full(4, 100.0), 99.0]
    samples = frame({"baseline": HEALTHY, "lossy": {**HEALTHY, "critical_coverage": coverage}}, n=5)
    result = judge(samples, "baseline", GATE_SET)
    assert result.outcome is Outcome.FAIL
    assert "critical_coverage: 1 of 5 samples below 100 %" in result.candidates[0].reasons[0]


def test_constant_equal_kpis_pass() -> None:
    samples = frame({"baseline": HEALTHY, "cand": {**HEALTHY, "active_series": 7_000.0}})
    rows = judge(samples, "baseline", GATE_SET).kpis.set_index("kpi")
    for kpi in ("collector_cpu_cores", "collector_rss_bytes", "failed_samples"):
        assert rows.loc[kpi, "outcome"] == "pass"
        assert "constant and equal on both sides" in rows.loc[kpi, "reason"]
    assert rows.loc["critical_coverage", "reason"] == (
        "critical_coverage: all 20 samples at or above 100 %"
    )


def test_a_sparse_counter_with_more_failures_does_not_pass() -> None:
    failed = GATES["failed_samples"]
    baseline = np.r_[np.zeros(19), 1.0]
    for candidate in (np.r_[np.zeros(16), 1.0, 1.0, 2.0, 1.0], np.r_[np.zeros(19), 2.0]):
        comparison = compare(baseline, candidate, centre_by=failed.centre)
        outcome, reason = gate_outcome(failed, comparison, candidate, p_holm=comparison.p_value)
        assert outcome is not Outcome.PASS, reason
    # none against some: the candidate repeats one value, so only significance passes it
    candidate = np.zeros(20)
    comparison = compare(baseline, candidate, centre_by=failed.centre)
    outcome, reason = gate_outcome(failed, comparison, candidate, p_holm=comparison.p_value)
    assert outcome is Outcome.INCONCLUSIVE
    assert "the candidate shows one value only (0 samples/s)" in reason


def test_a_sparse_counter_never_passes_when_the_candidate_shows_more() -> None:
    failed = GATES["failed_samples"]
    rng = np.random.default_rng(1)
    base = rng.poisson(0.1, (300, 20)).astype(float)
    cand = rng.poisson(0.1, (300, 20)).astype(float)
    for run in range(300):
        comparison = compare(base[run], cand[run], centre_by=failed.centre, seed=run)
        outcome, _ = gate_outcome(failed, comparison, cand[run], p_holm=comparison.p_value)
        if cand[run].sum() > base[run].sum():
            assert outcome is not Outcome.PASS


def test_holm_across_three_candidates_decides_significance() -> None:
    # 5 samples a side, no ties: exact two-sided p = 2 × P(U ≤ u) = 4/252 (u = 1), 8/252 (u = 2)
    base = [100.0, 101.0, 102.0, 103.0, 104.0]
    samples = frame(
        {
            "baseline": {"active_series": base},
            "one": {"active_series": [70.0, 71.0, 72.0, 73.0, 100.5]},  # u = 1
            "two": {"active_series": [70.0, 71.0, 72.0, 73.0, 101.5]},  # u = 2
            "three": {"active_series": [69.0, 71.0, 72.0, 74.0, 101.5]},  # u = 2
        }
    )
    result = judge(samples, "baseline", [SERIES], min_samples=5)
    rows = result.kpis.set_index("variant")
    np.testing.assert_allclose(
        rows.loc[["one", "two", "three"], "p_value"], [4 / 252, 8 / 252, 8 / 252]
    )
    np.testing.assert_allclose(
        rows.loc[["one", "two", "three"], "p_holm"], [12 / 252, 16 / 252, 16 / 252]
    )
    assert rows.loc["one", "outcome"] == "pass"
    # significant alone (p = 0.032), not once three candidates share α
    assert rows.loc["two", "outcome"] == rows.loc["three", "outcome"] == "inconclusive"
    assert "not significant" in rows.loc["two", "reason"]
    assert result.winner == "one"


def test_a_wider_spread_fails_a_spread_tested_gate() -> None:
    rng = np.random.default_rng(2)
    cpu = rng.normal(0.2, 0.005, 100)
    spiky = rng.normal(0.2, 0.02, 100)
    base = {**HEALTHY, "collector_cpu_cores": cpu}
    samples = frame(
        {
            "baseline": base,
            "spiky": {**base, "active_series": 7_000.0, "collector_cpu_cores": spiky},
        },
        n=100,
    )
    row = judge(samples, "baseline", GATE_SET).kpis.query("kpi == 'collector_cpu_cores'").iloc[0]
    assert row["outcome"] == "fail"
    assert "spread ×" in row["reason"] and "Brown-Forsythe" in row["reason"]


def test_noise_within_the_bound_is_inconclusive_not_a_pass() -> None:
    rng = np.random.default_rng(3)
    cpu = GATES["collector_cpu_cores"]
    base, cand = rng.lognormal(0, 0.3, 20), rng.lognormal(0, 0.3, 20)
    comparison = compare(base, cand)
    outcome, reason = gate_outcome(cpu, comparison, cand, p_holm=comparison.p_value)
    assert outcome is Outcome.INCONCLUSIVE
    assert "too noisy to show 'at most 10% higher'" in reason


def test_the_same_samples_give_the_same_verdict_in_any_order() -> None:
    rng = np.random.default_rng(4)
    base = {kpi: rng.lognormal(np.log(v or 1.0), 0.1, 25) for kpi, v in HEALTHY.items()}
    samples = frame({"baseline": base, "c": {k: v * 0.7 for k, v in base.items()}}, n=25)
    first = judge(samples, "baseline", GATE_SET).kpis
    shuffled = samples.sample(frac=1.0, random_state=1)
    again = judge(shuffled, "baseline", tuple(reversed(GATE_SET)))
    pd.testing.assert_frame_equal(
        first.set_index("kpi").sort_index(), again.kpis.set_index("kpi").sort_index()
    )


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="value: a column"):
        judge(pd.DataFrame({"variant": ["a"], "kpi": ["x"]}), "a", GATE_SET)
    with pytest.raises(ValidationFailed, match="no candidate"):
        judge(frame({"baseline": HEALTHY}), "baseline", GATE_SET)
    with pytest.raises(ValidationFailed, match="not a number"):
        judge(
            pd.DataFrame({"variant": ["a", "b"], "kpi": "x", "value": ["1", "lots"]}), "a", GATE_SET
        )


def test_absolute_bounds_hold_at_any_count_relative_ones_need_the_minimum() -> None:
    # host balance and coverage are measured once per variant (at the window's end): one value
    # at or above the floor passes; one below it fails; a relative gate still needs the minimum
    one = frame({"baseline": {"host_balance": 100.0}, "ok": {"host_balance": 100.0}}, n=1)
    assert judge(one, "baseline", [GATES["host_balance"]]).outcome is Outcome.PASS
    short = frame({"baseline": {"host_balance": 100.0}, "lost": {"host_balance": 50.0}}, n=1)
    assert judge(short, "baseline", [GATES["host_balance"]]).outcome is Outcome.FAIL
    few = frame({"baseline": {"active_series": 10.0}, "c": {"active_series": 5.0}}, n=1)
    assert judge(few, "baseline", [SERIES]).outcome is Outcome.INCONCLUSIVE


def test_the_calibrations_gates_are_the_catalogs() -> None:
    from phoenix_core.analysis import calibration

    defaults = gates_by_kpi(builtin_catalog().gates())
    assert defaults["active_series"] == calibration.SERIES_GATE
    assert defaults["failed_samples"] == calibration.FAILED_GATE


def test_a_tolerance_lets_through_differences_too_small_to_matter() -> None:
    # a collector at about 12 millicores, measured in 5-millicore steps: +20 % is 2.5 millicores
    base = np.tile([0.01, 0.015], 10)
    cand = np.r_[np.tile([0.01, 0.015, 0.02], 6), 0.015, 0.015]
    samples = frame({"baseline": {"collector_cpu_cores": base}, "c": {"collector_cpu_cores": cand}})
    strict = GATES["collector_cpu_cores"].model_copy(update={"tolerance": None})
    assert judge(samples, "baseline", [strict]).outcome is not Outcome.PASS
    tolerant = strict.model_copy(update={"tolerance": 0.01})
    result = judge(samples, "baseline", [tolerant])
    assert result.outcome is Outcome.PASS, result.reasons
    assert "or within 0.01 cores" in result.candidates[0].reasons[0]
    # beyond the tolerance it still fails
    far = frame(
        {"baseline": {"collector_cpu_cores": base}, "c": {"collector_cpu_cores": base + 0.05}}
    )
    assert judge(far, "baseline", [tolerant]).outcome is Outcome.FAIL


def test_a_spread_must_grow_by_more_than_the_tolerance_to_fail() -> None:
    rng = np.random.default_rng(4)
    base = 5.6e7 + rng.normal(0, 2e5, 40)
    cand = 5.6e7 + rng.normal(0, 8e5, 40)  # spread x4, by about 0.5 MB
    samples = frame({"baseline": {"collector_rss_bytes": base}, "c": {"collector_rss_bytes": cand}})
    strict = GATES["collector_rss_bytes"].model_copy(update={"tolerance": None})
    result = judge(samples, "baseline", [strict])
    assert result.outcome is Outcome.FAIL and "spread" in result.candidates[0].reasons[0]
    tolerant = strict.model_copy(update={"tolerance": 5e6})
    assert judge(samples, "baseline", [tolerant]).outcome is Outcome.PASS
