"""The Experiment detail page's plots, in HoloViews: the KPI time series (one plot per KPI, the
variants overlaid; the page links their time axes) and each candidate's scorecard (change and
interval against the gate's line).

Downsampling: each curve goes through HoloViews' ``downsample1d`` with ``lttb`` (largest
triangle three buckets: the shape of the series at a few points per pixel, first and last
points kept). It is dynamic: the server downsamples again, at the plot's width, the range a
zoom shows, so the browser holds ~``POINTS`` points per curve whatever the series' length, and
a zoom in shows the detail. (``minmax`` needs the ``tsdownsample`` package, which Phoenix does
not install.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # (registers Bokeh: the plots' options are its)
import pandas as pd
from holoviews.operation.downsample import downsample1d

__all__ = ["OUTCOME_COLOURS", "POINTS", "downsample", "scorecard_plot", "series_plots"]

PLOT_HEIGHT = 260
"""Each KPI's plot's height; its width is its half of the page's (two side by side)."""
POINTS = 600
"""Points per curve when no plot width is known yet (a few per pixel of a plot)."""
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]  # fmt: skip
OUTCOME_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "inconclusive": "#ef6c00"}
_NO_OUTCOME = "#546e7a"


def downsample(curve: hv.Element, points: int = POINTS, dynamic: bool = False) -> Any:
    """``curve`` (or an overlay of curves, each) by LTTB: at most ``points`` of it (the first
    and last among them); dynamic: a ``DynamicMap``, again at each zoom, at the plot's width."""
    return downsample1d(curve, algorithm="lttb", width=points, dynamic=dynamic)


def _colours(names: list[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def series_plots(
    series: pd.DataFrame, units: Mapping[str, str], window: str, dynamic: bool = True
) -> dict[str, Any]:
    """One plot per KPI, by KPI (titled with the KPI, its unit and the window), each series a
    colour (the same in every plot); none without series. Each is shown in its own pane, their
    time axes linked by Panel (the time dimension is the same; each KPI's value is its own): a
    HoloViews ``Layout`` (one Bokeh ``GridPlot``) drew its plots at no size in the page."""
    if series.empty:
        return {}
    colours = _colours(sorted(series["series"].unique()))
    time = hv.Dimension("t", label="time (UTC)")
    linked = TimeAxisLink()
    plots = {}
    for kpi, group in series.groupby("kpi", sort=False):
        unit = units.get(str(kpi), "")
        value = hv.Dimension(f"v_{kpi}", label=unit or str(kpi))
        curves = hv.Overlay(
            [
                hv.Curve(
                    (_bokeh_time(part["t"]), part["v"].to_numpy(float)),
                    time,
                    value,
                    label=str(name),
                ).opts(color=colours[str(name)], tools=["hover"])
                for name, part in group.groupby("series", sort=True)
            ]
        )
        plots[str(kpi)] = downsample(curves, dynamic=dynamic).opts(
            title=f"{kpi} ({unit})" if unit else str(kpi),
            xlabel=f"time (UTC) · {window}" if window else "time (UTC)",
            height=PLOT_HEIGHT,
            responsive=True,
            legend_position="top_left",
            show_grid=True,
            active_tools=["box_zoom"],
            padding=(0.005, 0.1),  # (time: the ends inside the range, not on its rounded edge)
            hooks=[linked],
        )
    return plots


def _bokeh_time(t: pd.Series) -> Any:
    """Times as Bokeh holds them: naive UTC, to the millisecond. (To the microsecond, the last
    sample lies after the axis' end, which Bokeh rounds to the millisecond, and the
    downsampling of the range shown leaves it out.)"""
    return t.dt.tz_localize(None).dt.floor("ms").to_numpy()


class TimeAxisLink:
    """A plot hook that links the time axis of every plot it is given, in the browser: a
    zoom or pan in one moves them all (each then downsamples its new range on the server).

    Why here and not Panel's ``linked_axes``: Panel links axes only when a page is first
    drawn, and these plots are added to it later; a HoloViews ``Layout`` would share them,
    but its one Bokeh ``GridPlot`` drew at no size in the page."""

    def __init__(self) -> None:
        self._first: Any = None
        self._linked: set[str] = set()

    def __call__(self, plot: Any, element: Any) -> None:
        x_range = plot.state.x_range
        if self._first is None:
            self._first = x_range
        if x_range.id in self._linked or x_range is self._first:
            return
        self._linked.add(x_range.id)
        for bound in ("start", "end"):
            self._first.js_link(bound, x_range, bound)
            x_range.js_link(bound, self._first, bound)


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
