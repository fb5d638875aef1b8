"""The Experiment detail page's scorecard, in HoloViews: each candidate's change and interval
per KPI against the gate's line. (The KPI time series are ``kpi_plots``.)
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # (registers Bokeh: the plots' options are its)
import pandas as pd

__all__ = ["OUTCOME_COLOURS", "scorecard_plot"]

OUTCOME_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "inconclusive": "#ef6c00"}
_NO_OUTCOME = "#546e7a"


def scorecard_plot(card: pd.DataFrame, candidate: str) -> hv.Overlay:
    """A candidate's KPIs, one per line: its change (%) as a dot, its 95 % interval as a bar,
    coloured by the gate's outcome; the gate's line as a black tick; 0 % dotted."""
    rows = card[card["candidate"] == candidate].reset_index(drop=True)
    rows = rows.assign(
        y=range(len(rows)),
        colour=[OUTCOME_COLOURS.get(o, _NO_OUTCOME) for o in rows["outcome"]],
        low=rows["low"].fillna(rows["change"]),
        high=rows["high"].fillna(rows["change"]),
    )
    labels = zip(rows["y"], rows["kpi"], rows["outcome"], strict=True)
    ticks = [(i, f"{k} ({o or 'reported'})") for i, k, o in labels]  # fmt: skip
    change = hv.Dimension("change", label="change vs baseline (%)")
    known = rows.dropna(subset=["change"])
    bars = hv.Segments(
        known.assign(y1=known["y"])[["low", "y", "high", "y1", "colour", "kpi"]],
        [hv.Dimension("low", label=change.label), "y", "high", "y1"],
        ["colour", "kpi"],
    ).opts(color="colour", line_width=10, alpha=0.55)
    dots = hv.Scatter(
        known[["change", "y", "colour", "kpi", "low", "high", "p_value"]],
        change,
        ["y", "colour", "kpi", "low", "high", "p_value"],
    ).opts(color="colour", size=10, tools=["hover"])
    gated = rows.dropna(subset=["threshold"])
    lines = hv.Segments(
        pd.DataFrame(
            {
                "x0": gated["threshold"],
                "y0": gated["y"] - 0.4,
                "x1": gated["threshold"],
                "y1": gated["y"] + 0.4,
            }
        ),
        [hv.Dimension("x0", label=change.label), "y0", "x1", "y1"],
    ).opts(color="black", line_width=3)
    zero = hv.VLine(0).opts(color="#9e9e9e", line_dash="dotted")
    return (zero * bars * dots * lines).opts(
        title=f"{candidate}: change and 95 % interval per KPI (black: the gate)",
        yticks=ticks,
        ylim=(-0.6, max(len(rows), 1) - 0.4),
        ylabel="",
        xlabel=change.label,
        height=max(140, 48 * len(rows) + 70),
        responsive=True,
        show_grid=True,
        toolbar=None,
    )
