"""The hook analysis plugs into: given a finished experiment, a verdict with reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from phoenix_core.lifecycle import Verdict
from phoenix_core.store.experiments import ExperimentRecord

__all__ = ["AnalysisResult", "Analyzer", "NoAnalyzer"]


@dataclass(frozen=True)
class AnalysisResult:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)


class Analyzer(Protocol):
    def analyze(self, experiment: ExperimentRecord) -> AnalysisResult:
        """Judge the candidates against the baseline; store KPIs; return the verdict."""


class NoAnalyzer:
    """What runs until an analyzer is configured: never a made-up number."""

    def analyze(self, experiment: ExperimentRecord) -> AnalysisResult:
        return AnalysisResult(Verdict.INCONCLUSIVE, ["no analyzer configured"])
