"""The experiment controller: scheduling, deployment, timers, failure handling, leadership."""

from __future__ import annotations

from phoenix_core.controller.analysis import AnalysisResult, Analyzer
from phoenix_core.controller.reconciler import Controller
from phoenix_core.controller.reference import PrometheusReference, ReferenceSource, StaticReference
from phoenix_core.controller.settings import ControllerSettings

__all__ = [
    "AnalysisResult",
    "Analyzer",
    "Controller",
    "ControllerSettings",
    "PrometheusReference",
    "ReferenceSource",
    "StaticReference",
]
