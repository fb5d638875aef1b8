"""The Experiment page (``experiment?id=…``): for now its record in words and its variants;
the KPI series, scorecard, events and cost come with the full detail page."""

from __future__ import annotations

import uuid
from typing import Any

import panel as pn
import param

from phoenix_core.errors import NotFound, PhoenixError
from phoenix_dashboards.experiment_tables import experiment_overview, variants_table
from phoenix_dashboards.page import LivePage, data_table

__all__ = ["ExperimentPage"]


class ExperimentPage(LivePage):
    """One experiment, read from ``GET /api/v1/experiments/{id}``."""

    title = "Experiment"
    refresh_seconds = param.Integer(default=10, bounds=(2, 3600), label="Every (s)")
    experiment_id = param.String(default="", doc="The experiment shown (the page's ?id=).")
    record = param.Dict(default={}, doc="Its record as the API last answered.")

    def content(self) -> pn.viewable.Viewable:
        overview = pn.bind(experiment_overview, self.param.record)
        variants = pn.bind(variants_table, self.param.record)
        return pn.Column(
            pn.pane.Markdown(overview, css_classes=["phoenix-experiment"]),
            data_table(variants, "phoenix-variants"),
            sizing_mode="stretch_width",
        )

    def read(self) -> dict[str, Any]:
        try:
            uuid.UUID(self.experiment_id)
        except ValueError:
            raise PhoenixError(
                f"'{self.experiment_id}' is not an experiment id: open one from the list."
            ) from None
        try:
            return self.client.experiment(self.experiment_id)
        except NotFound:
            raise PhoenixError(f"There is no experiment {self.experiment_id}.") from None

    def draw(self, data: dict[str, Any]) -> None:
        self.record = data
        self.state.ready()
