"""The hook analysis plugs into: given a finished experiment, a verdict with reasons.

``phoenix_core.use_cases.analysis.Analyses`` implements it (measure, judge, store).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from phoenix_core.lifecycle import Verdict
from phoenix_core.store.experiments import ExperimentRecord

__all__ = ["AnalysisResult", "Analyzer"]


@dataclass(frozen=True)
class AnalysisResult:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)


class Analyzer(Protocol):
    def analyze(self, experiment: ExperimentRecord) -> AnalysisResult:
        """Judge the candidates against the baseline; store KPIs; return the verdict.

        ``MetricsUnavailable`` or ``DatabaseError`` when the measurements cannot be read now
        (the controller tries again, and after ``analysis_timeout_seconds`` completes the
        experiment inconclusive with the reason); any other ``PhoenixError`` completes it
        inconclusive at once, with its message as the reason."""
