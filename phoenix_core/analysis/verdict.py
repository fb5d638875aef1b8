"""The verdict: each candidate against the baseline, KPI by KPI, then overall, with reasons.

Input: a long DataFrame, one row per sample in the measurement window, columns ``variant``,
``kpi``, ``value`` (``host`` and ``timestamp`` may ride along; samples are taken as independent
draws). A NaN or a missing row is no data, never zero.

Per KPI and candidate, ``compare`` gives the statistics; Holm's step-down adjusts the p-values
across the candidates of each KPI; the gate's rule gives pass, fail or inconclusive with a
reason. A candidate fails on a failed critical gate, is inconclusive on an inconclusive critical
gate or a must-have KPI without data, and passes otherwise. Overall: pass when a candidate
passes (the winner named by ``WINNER_RULE``), fail when every one fails, else inconclusive.
``docs/analysis.md`` states each rule and the calibration behind ``MIN_SAMPLES``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from phoenix_core.analysis.comparison import CONFIDENCE, Comparison, ComparisonKind, compare
from phoenix_core.analysis.gates import Direction, Gate, gates_by_kpi
from phoenix_core.analysis.resampling import N_RESAMPLES
from phoenix_core.errors import FieldError, ValidationFailed
from phoenix_core.lifecycle import Verdict as Outcome

__all__ = [
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
]

ALPHA = 0.05
# The smallest n per side at which a 30 % reduction (gate: at least 20 %) passes in at least
# 80 % of runs at α = 0.05, for a KPI with log-normal noise of σ = 0.25 (CV ≈ 25 %): found by
# simulation (``calibration.smallest_sufficient_n``; docs/analysis.md has the figures).
MIN_SAMPLES = 11
WINNER_KPI = "active_series"
TIE_KPI = "collector_cpu_cores"
TIE_MARGIN = 0.01
WINNER_RULE = (
    f"the passing candidate with the largest improvement in {WINNER_KPI}; improvements within "
    f"{TIE_MARGIN * 100:g} percentage point of the best are a tie, broken by the larger "
    f"improvement in {TIE_KPI}, then by name"
)
_COLUMNS = ("variant", "kpi", "value")
KPI_COLUMNS = (
    "kpi",
    "variant",
    "outcome",
    "reason",
    "critical",
    "must_have_data",
    "unit",
    "kind",
    "centre_by",
    "n_baseline",
    "n_candidate",
    "baseline_centre",
    "candidate_centre",
    "relative_change",
    "relative_change_low",
    "relative_change_high",
    "p_value",
    "p_holm",
    "hl_shift",
    "hl_low",
    "hl_high",
    "effect_size",
    "spread_ratio",
    "spread_increase",
    "spread_p_value",
    "spread_p_holm",
    "constant_side",
)


@dataclass(frozen=True)
class CandidateResult:
    """One candidate's outcome; ``reasons`` decide it, ``notes`` come from non-critical gates."""

    variant: str
    outcome: Outcome
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Verdict:
    """The overall outcome with its reasons, the winner, and one row per KPI and candidate."""

    outcome: Outcome
    reasons: tuple[str, ...]
    winner: str | None
    candidates: tuple[CandidateResult, ...]
    kpis: pd.DataFrame
    winner_rule: str = WINNER_RULE


def holm(p_values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Holm's step-down adjusted p-values; NaN (no test) stays NaN and is not counted."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = order.size
    steps = (m - np.arange(m)) * p[order]
    adjusted[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    return adjusted


def judge(
    samples: pd.DataFrame,
    baseline: str,
    gates: Iterable[Gate],
    *,
    candidates: Sequence[str] | None = None,
    alpha: float = ALPHA,
    confidence: float = CONFIDENCE,
    min_samples: int = MIN_SAMPLES,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> Verdict:
    """Judge every candidate (default: each variant in ``samples`` but the baseline) on every
    gate; KPIs in ``samples`` without a gate are not judged.

    Repeatable: each comparison's random stream is seeded from ``seed``, the KPI and the
    variant, so the same samples give the same verdict whatever the order of gates or rows.
    """
    by_kpi = gates_by_kpi(gates)
    values = _values(samples)
    if candidates is None:
        candidates = sorted({variant for variant, _ in values} - {baseline})
    if not candidates:
        raise ValidationFailed([FieldError(("variant",), "no candidate to judge")])
    empty = np.empty(0)
    rows: list[dict[str, object]] = []
    for gate in by_kpi.values():
        base = values.get((baseline, gate.kpi), empty)
        found = [
            compare(
                base,
                values.get((variant, gate.kpi), empty),
                centre_by=gate.centre,
                test_spread=gate.test_spread,
                confidence=confidence,
                n_resamples=n_resamples,
                seed=np.random.default_rng(
                    [seed, zlib.crc32(gate.kpi.encode()), zlib.crc32(variant.encode())]
                ),
            )
            for variant in candidates
        ]
        p_holm = holm([c.p_value for c in found])
        spread_holm = holm([c.spread_p_value for c in found])
        for c_index, (variant, comparison) in enumerate(zip(candidates, found, strict=True)):
            outcome, reason = gate_outcome(
                gate,
                comparison,
                values.get((variant, gate.kpi), empty),
                p_holm=float(p_holm[c_index]),
                spread_p_holm=float(spread_holm[c_index]),
                min_samples=min_samples,
                alpha=alpha,
            )
            rows.append(
                {
                    "kpi": gate.kpi,
                    "variant": variant,
                    "outcome": outcome,
                    "reason": reason,
                    "critical": gate.critical,
                    "must_have_data": gate.must_have_data,
                    "unit": gate.unit,
                    **asdict(comparison),
                    "p_holm": float(p_holm[c_index]),
                    "spread_p_holm": float(spread_holm[c_index]),
                }
            )
    table = _table(rows)
    results = tuple(_candidate(variant, table, by_kpi) for variant in candidates)
    return _overall(results, table, by_kpi)


def gate_outcome(
    gate: Gate,
    comparison: Comparison,
    candidate_values: npt.ArrayLike,
    *,
    p_holm: float,
    spread_p_holm: float = math.nan,
    min_samples: int = MIN_SAMPLES,
    alpha: float = ALPHA,
) -> tuple[Outcome, str]:
    """One gate's outcome and its reason, given the comparison and the Holm-adjusted p-values
    (for a single candidate, the p-values themselves)."""
    own = np.asarray(candidate_values, dtype=np.float64).ravel()
    rule = _Rule(gate, comparison, p_holm, spread_p_holm)
    return rule.decide(own, min_samples=min_samples, alpha=alpha)


def _values(samples: pd.DataFrame) -> dict[tuple[str, str], npt.NDArray[np.float64]]:
    missing = [name for name in _COLUMNS if name not in samples.columns]
    if missing:
        raise ValidationFailed(
            [FieldError((name,), "a column samples must have") for name in missing]
        )
    try:
        numbers = pd.to_numeric(samples["value"], errors="raise").astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed([FieldError(("value",), f"not a number: {exc}")]) from exc
    frame = pd.DataFrame(
        {
            "variant": samples["variant"].astype(str),
            "kpi": samples["kpi"].astype(str),
            "value": numbers,
        }
    )
    return {
        (str(variant), str(kpi)): group.to_numpy(dtype=np.float64)
        for (variant, kpi), group in frame.groupby(["variant", "kpi"], sort=False)["value"]
    }


def _table(rows: list[dict[str, object]]) -> pd.DataFrame:
    table = pd.DataFrame(rows).rename(columns={"centre": "centre_by"})
    for column in ("kind", "centre_by", "outcome"):
        table[column] = table[column].astype(str)
    return table[list(KPI_COLUMNS)]


class _Rule:
    """A gate's rule applied to one comparison (docs/analysis.md, "Gates")."""

    def __init__(
        self, gate: Gate, comparison: Comparison, p_holm: float, spread_holm: float
    ) -> None:
        self.gate, self.c, self.p_holm, self.spread_holm = gate, comparison, p_holm, spread_holm

    def decide(
        self, own: npt.NDArray[np.float64], *, min_samples: int, alpha: float
    ) -> tuple[Outcome, str]:
        c, name = self.c, self.gate.kpi
        early = self._unjudged(own[np.isfinite(own)], min_samples)
        if early is not None:
            return early
        gate, summary = self.gate, self.summary()
        if (
            gate.test_spread
            and self.spread_holm < alpha
            and c.spread_ratio > 1.0 + gate.max_spread_increase
            and not (gate.tolerance is not None and c.spread_increase <= gate.tolerance)
        ):
            return Outcome.FAIL, (
                f"{summary}; spread ×{c.spread_ratio:.2f}, +{_num(c.spread_increase, gate.unit)}"
                f" (Brown-Forsythe p"
                f" {_p(c.spread_p_value)}, Holm p {_p(self.spread_holm)}), more than the allowed"
                f" ×{1 + gate.max_spread_increase:.2f}"
            )
        significant = self.p_holm < alpha
        if gate.min_improvement is not None:
            return self._improvement(summary, significant, gate.min_improvement)
        if gate.max_worsening is not None:
            return self._worsening(summary, significant, self._allowed(gate.max_worsening))
        if gate.floor is not None or gate.ceiling is not None:
            return Outcome.PASS, f"{name}: all {c.n_candidate:,} samples {self._absolute()}"
        return Outcome.PASS, f"{summary}: reported only (no bound)"

    def _unjudged(
        self, own: npt.NDArray[np.float64], min_samples: int
    ) -> tuple[Outcome, str] | None:
        """No data, a sample past an absolute bound (a fact at any count), or too few samples."""
        c, name = self.c, self.gate.kpi
        if c.kind is ComparisonKind.NO_DATA:
            counts = (("baseline", c.n_baseline), ("candidate", c.n_candidate))
            empty = " or the ".join(side for side, n in counts if n == 0)
            return Outcome.INCONCLUSIVE, f"{name}: no data from the {empty}"
        beyond = self._beyond_absolute(own)
        if beyond:
            return Outcome.FAIL, beyond
        if self.gate.compares and min(c.n_baseline, c.n_candidate) < min_samples:
            return Outcome.INCONCLUSIVE, (
                f"{name}: too few samples ({c.n_baseline} baseline, {c.n_candidate} candidate;"
                f" at least {min_samples} a side)"
            )
        return None

    def _improvement(self, summary: str, significant: bool, need: float) -> tuple[Outcome, str]:
        better = self.gate.improvement(self.c.relative_change)
        best = max(self._improvements())
        if significant and better >= need:
            return Outcome.PASS, f"{summary}: meets the required {need:.0%} improvement"
        if best < need:
            return Outcome.FAIL, (
                f"{summary}: short of the required {need:.0%} improvement (the interval's best"
                f" is {best:.1%})"
            )
        why = "not significant" if not significant else f"estimate {better:.1%}"
        return Outcome.INCONCLUSIVE, (
            f"{summary}: too noisy to tell whether it reaches the required {need:.0%}"
            f" improvement ({why})"
        )

    def _worsening(self, summary: str, significant: bool, allowed: float) -> tuple[Outcome, str]:
        worst, best = sorted(self._improvements())
        lower = self.gate.direction is Direction.LOWER
        own = self.gate.max_worsening or 0.0
        if own == 0:
            bound = "no increase" if lower else "no decrease"
        else:
            bound = f"at most {own:.0%} {'higher' if lower else 'lower'}"
        if allowed > own:  # the tolerance is the larger allowance here
            tolerance = _num(self.gate.tolerance or 0.0, self.gate.unit)
            bound = f"{bound} or within {tolerance} ({allowed:.0%} of the baseline)"
        bound = f"'{bound}'"
        if significant and -best > allowed:
            return Outcome.FAIL, f"{summary}: breaks {bound}"
        side = self.c.constant_side
        better = self.gate.improvement(self.c.relative_change) > 0
        if -worst <= allowed and (side is None or (significant and better)):
            return Outcome.PASS, f"{summary}: meets {bound}"
        if -worst <= allowed:
            value = self.c.baseline_centre if side == "baseline" else self.c.candidate_centre
            return Outcome.INCONCLUSIVE, (
                f"{summary}: the {side} shows one value only ({_num(value, self.gate.unit)}), so"
                " its spread is unknown and only a significant improvement would show"
                f" {bound}"
            )
        reach = self.c.relative_change_high if lower else self.c.relative_change_low
        return Outcome.INCONCLUSIVE, (
            f"{summary}: too noisy to show {bound} (the interval reaches {_change(reach)})"
        )

    def _allowed(self, relative: float) -> float:
        """The allowed worsening as a fraction: the gate's, or its tolerance relative to the
        baseline's centre where that is larger."""
        tolerance, base = self.gate.tolerance, abs(self.c.baseline_centre)
        if tolerance is None or not (math.isfinite(base) and base > 0):
            return relative
        return max(relative, tolerance / base)

    def _improvements(self) -> tuple[float, float]:
        """The interval's ends as improvements (positive: better in the gate's direction)."""
        low, high = self.c.relative_change_low, self.c.relative_change_high
        return self.gate.improvement(low), self.gate.improvement(high)

    def _beyond_absolute(self, own: npt.NDArray[np.float64]) -> str:
        gate = self.gate
        for bound, outside, word, extreme in (
            (gate.floor, own < (gate.floor or 0.0), "below", np.min),
            (gate.ceiling, own > (gate.ceiling or 0.0), "above", np.max),
        ):
            if bound is not None and outside.any():
                return (
                    f"{gate.kpi}: {int(outside.sum()):,} of {own.size:,} samples {word}"
                    f" {_num(bound, gate.unit)} (the extreme"
                    f" {_num(float(extreme(own[outside])), gate.unit)})"
                )
        return ""

    def _absolute(self) -> str:
        gate = self.gate
        parts = [f"at or above {_num(gate.floor, gate.unit)}" if gate.floor is not None else ""]
        parts.append(
            f"at or below {_num(gate.ceiling, gate.unit)}" if gate.ceiling is not None else ""
        )
        return " and ".join(part for part in parts if part)

    def summary(self) -> str:
        c, name, unit = self.c, self.gate.kpi, self.gate.unit
        if c.kind is ComparisonKind.CONSTANT and c.relative_change == 0:
            return f"{name} constant and equal on both sides ({_num(c.baseline_centre, unit)})"
        what = c.centre.value
        if c.baseline_centre == 0:
            change = f"{what} from 0 to {_num(c.candidate_centre, unit)}"
        else:
            change = (
                f"{what} {_change(c.relative_change)} (interval {_change(c.relative_change_low)}"
                f" to {_change(c.relative_change_high)})"
            )
        return f"{name} {change}, Mann-Whitney p {_p(c.p_value)}, Holm p {_p(self.p_holm)}"


def _candidate(variant: str, table: pd.DataFrame, gates: dict[str, Gate]) -> CandidateResult:
    rows = table[table["variant"] == variant]
    fails, unsure, passes, notes = [], [], [], []
    for row in rows.itertuples(index=False):
        gate = gates[str(row.kpi)]
        no_data = row.kind == ComparisonKind.NO_DATA.value
        reason = str(row.reason)
        if no_data and gate.must_have_data:
            unsure.append(f"{reason} (a KPI that must have data)")
        elif gate.critical and row.outcome == Outcome.FAIL.value:
            fails.append(reason)
        elif gate.critical and row.outcome == Outcome.INCONCLUSIVE.value and not no_data:
            unsure.append(reason)
        elif gate.critical and row.outcome == Outcome.PASS.value:
            passes.append(reason)
        elif no_data:
            notes.append(f"{reason} (not required)")
        elif row.outcome != Outcome.PASS.value:
            notes.append(f"{reason} (not critical)")
    if fails:
        return CandidateResult(variant, Outcome.FAIL, tuple(fails), tuple(unsure + notes))
    if unsure:
        return CandidateResult(variant, Outcome.INCONCLUSIVE, tuple(unsure), tuple(notes))
    return CandidateResult(variant, Outcome.PASS, tuple(passes), tuple(notes))


def _overall(
    results: tuple[CandidateResult, ...], table: pd.DataFrame, gates: dict[str, Gate]
) -> Verdict:
    reasons = [f"{r.variant}: {r.outcome.value}: {'; '.join(r.reasons)}" for r in results]
    passing = [r.variant for r in results if r.outcome is Outcome.PASS]
    if passing:
        winner = _winner(passing, table, gates)
        reasons.insert(0, f"winner: {winner} ({WINNER_RULE})")
        return Verdict(Outcome.PASS, tuple(reasons), winner, results, table)
    if all(r.outcome is Outcome.FAIL for r in results):
        reasons.insert(0, "every candidate fails")
        return Verdict(Outcome.FAIL, tuple(reasons), None, results, table)
    reasons.insert(0, "no candidate passes, and not every one fails")
    return Verdict(Outcome.INCONCLUSIVE, tuple(reasons), None, results, table)


def _winner(passing: list[str], table: pd.DataFrame, gates: dict[str, Gate]) -> str:
    def improvement(variant: str, kpi: str) -> float:
        row = table[(table["variant"] == variant) & (table["kpi"] == kpi)]
        if (
            kpi not in gates
            or row.empty
            or math.isnan(value := float(row["relative_change"].iloc[0]))
        ):
            return -math.inf
        return gates[kpi].improvement(value)

    best = max(improvement(v, WINNER_KPI) for v in passing)
    tied = [v for v in passing if improvement(v, WINNER_KPI) >= best - TIE_MARGIN]
    return min(tied, key=lambda v: (-improvement(v, TIE_KPI), v))


def _p(p: float) -> str:
    if math.isnan(p):
        return "n/a"
    return "< 1e-16" if p < 1e-16 else f"= {p:.2g}"


def _change(x: float) -> str:
    if math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    return f"{x:+.1%}"


def _num(x: float, unit: str) -> str:
    return f"{x:.4g} {unit}".rstrip()
