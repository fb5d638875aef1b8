"""The Experiment detail page's KPI time series: one Bokeh plot per KPI, every variant (or
host) a line of its own colour, the same in every plot; all plots share one time range, so a
zoom or pan in one moves them all.

Each line holds at most a few points per pixel: the samples in the range shown, downsampled
by LTTB (``downsampling.lttb``: the shape kept, spikes and both ends too) to ``POINTS``. A
zoom reads the range again, on the server, from the full series, so a zoom in shows the
detail. Bokeh directly rather than HoloViews' ``downsample1d``: the page drew 8 HoloViews
plots of 2 × 10,000 points in ~1.1 s on the server, these in ~0.2 s (bench/README.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from bokeh.events import DoubleTap
from bokeh.models import (
    BoxZoomTool,
    ColumnDataSource,
    CustomJS,
    HoverTool,
    PanTool,
    Range1d,
    ResetTool,
    SaveTool,
    WheelZoomTool,
)
from bokeh.plotting import figure

from phoenix_dashboards.downsampling import lttb

__all__ = ["PALETTE", "POINTS", "KpiPlots"]

POINTS = 800
"""Points a line holds for the range shown: about two per pixel of a plot's frame."""
HEIGHT = 260
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]  # fmt: skip
_WHOLE_WINDOW = "range.setv({start: start, end: end})"
_EPOCH = pd.Timestamp(0, tz="UTC")
"""Times go to Bokeh as milliseconds since the epoch (its unit), whatever pandas' own."""


class KpiPlots:
    """The plots of ``series`` (long: kpi, series, t (UTC), v), by KPI, titled with its unit
    (``units``); the x axis says the ``window``. ``plots`` is empty without series."""

    def __init__(self, series: pd.DataFrame, units: Mapping[str, str], window: str) -> None:
        self.plots: dict[str, Any] = {}
        self._lines: list[tuple[np.ndarray, np.ndarray, ColumnDataSource]] = []
        if series.empty:
            return
        t = ((series["t"] - _EPOCH) / pd.Timedelta(milliseconds=1)).to_numpy(np.float64)
        names = sorted(series["series"].unique())
        colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
        start, end = float(t.min()), float(t.max())
        pad = max((end - start) * 0.005, 1_000.0)  # (the ends inside the range, not on its edge)
        self.time_range = Range1d(start=start - pad, end=end + pad)
        frame = series.assign(ms=t)
        for kpi, group in frame.groupby("kpi", sort=False):
            plot = self._plot(str(kpi), units.get(str(kpi), ""), window)
            for name, part in group.groupby("series", sort=True):
                x, y = part["ms"].to_numpy(), part["v"].to_numpy(np.float64)
                source = ColumnDataSource(self._shown(x, y, start - pad, end + pad))
                plot.line("t", "v", source=source, color=colours[str(name)], line_width=2,
                          legend_label=str(name))  # fmt: skip
                self._lines.append((x, y, source))
            plot.legend.location = "top_left"
            plot.legend.background_fill_alpha = 0.7
            self.plots[str(kpi)] = plot
        self.time_range.on_change("start", self._zoomed)
        self.time_range.on_change("end", self._zoomed)

    def _plot(self, kpi: str, unit: str, window: str) -> Any:
        """A KPI's plot. Drag: zoom into a time range; double-click: the whole window again.
        Only the first plot shows its toolbar (pan, zoom, reset, save): the range is shared,
        and 8 toolbars took ~1 s of the browser's drawing (bench/dashboard_detail.py)."""
        zoom = BoxZoomTool(dimensions="width")
        plot = figure(
            title=f"{kpi} ({unit})" if unit else kpi,
            x_axis_type="datetime",
            x_range=self.time_range,
            x_axis_label=f"time (UTC) · {window}" if window else "time (UTC)",
            y_axis_label=unit or kpi,
            height=HEIGHT,
            sizing_mode="stretch_width",
            tools=[
                zoom,
                PanTool(dimensions="width"),
                WheelZoomTool(dimensions="width"),
                ResetTool(),
                SaveTool(),
            ],
            active_drag=zoom,
            toolbar_location="right" if not self.plots else None,
            output_backend="canvas",
        )
        plot.add_tools(
            HoverTool(
                tooltips=[("time", "@t{%F %T}"), (unit or kpi, "@v{0,0.[000]}")],
                formatters={"@t": "datetime"},
                mode="vline",
            )
        )
        whole = {"start": self.time_range.start, "end": self.time_range.end}
        plot.js_on_event(
            DoubleTap, CustomJS(args={"range": self.time_range, **whole}, code=_WHOLE_WINDOW)
        )
        return plot

    @staticmethod
    def _shown(x: np.ndarray, y: np.ndarray, start: float, end: float) -> dict[str, Any]:
        """The points of ``(x, y)`` in ``[start, end]``, and one either side (the line runs
        to the edges), downsampled to ``POINTS``."""
        first = max(int(np.searchsorted(x, start, side="left")) - 1, 0)
        last = min(int(np.searchsorted(x, end, side="right")) + 1, len(x))
        kept = first + lttb(x[first:last], y[first:last], POINTS)
        return {"t": x[kept], "v": y[kept]}

    def _zoomed(self, attr: str, old: Any, new: Any) -> None:
        start, end = float(self.time_range.start), float(self.time_range.end)  # type: ignore[arg-type]  # (ms: the range was made of floats)
        for x, y, source in self._lines:
            source.data = self._shown(x, y, start, end)
