"""The collectors Phoenix compiles pipelines for, and the support matrix generated from them."""

from __future__ import annotations

from collections.abc import Callable

from phoenix_core.pipelines import otelcol, prometheus_agent
from phoenix_core.pipelines.compiler import CompileContext, RenderedConfig, Support
from phoenix_core.pipelines.ir import STEP_KINDS, Pipeline
from phoenix_core.wire.tasks import CollectorKind

__all__ = ["COMPILERS", "SUPPORT", "compile_pipeline", "support_matrix_markdown"]

COMPILERS: dict[CollectorKind, Callable[[Pipeline, CompileContext], RenderedConfig]] = {
    CollectorKind.PROMETHEUS_AGENT: prometheus_agent.compile_prometheus_agent,
    CollectorKind.OTELCOL: otelcol.compile_otelcol,
}

SUPPORT: dict[CollectorKind, dict[str, Support]] = {
    CollectorKind.PROMETHEUS_AGENT: prometheus_agent.SUPPORT,
    CollectorKind.OTELCOL: otelcol.SUPPORT,
}


def compile_pipeline(
    collector: CollectorKind, pipeline: Pipeline, context: CompileContext
) -> RenderedConfig:
    """A complete config of ``collector`` running ``pipeline`` for one variant on one host."""
    return COMPILERS[collector](pipeline, context)


def support_matrix_markdown() -> str:
    """The step × collector matrix (exact, by refresh, refused) as Markdown, from the code."""
    collectors = list(SUPPORT)
    lines = [
        "# Pipeline steps by collector",
        "",
        "Generated from the compilers by `python scripts/generate.py`; do not edit by hand.",
        "",
        "- **exact**: the collector does what the step means, series by series.",
        "- **by refresh**: the collector runs a keep- or drop-list that Phoenix computes from",
        "  reference values (the baseline's latest measurements) and reloads every",
        "  `refresh_seconds`; exact for the series and values of the last refresh.",
        "- **refused**: compiling a pipeline with this step for this collector is an error.",
        "",
        "| step | " + " | ".join(c.value for c in collectors) + " |",
        "|---|" + "---|" * len(collectors),
    ]
    for kind in STEP_KINDS:
        cells = [SUPPORT[c][kind].mode.value for c in collectors]
        lines.append(f"| `{kind}` | " + " | ".join(cells) + " |")
    for collector in collectors:
        lines += ["", f"## {collector.value}", ""]
        for kind in STEP_KINDS:
            support = SUPPORT[collector][kind]
            lines.append(f"- `{kind}` ({support.mode.value}): {support.note}")
    return "\n".join(lines) + "\n"
