"""The Fleet page: every host with its status, labels, last heartbeat and agent version, and
every collector placed on it with its status and restarts; trouble stands out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import panel as pn
import param

from phoenix_dashboards.fleet_tables import (
    collector_row_style,
    collectors_table,
    filter_hosts,
    fleet_summary,
    fleet_table,
    host_row_style,
)
from phoenix_dashboards.page import LivePage, data_table, number_format
from phoenix_dashboards.template import WIDGET_WIDTH

__all__ = ["FleetPage", "FleetReading"]

NO_HOSTS = (
    "No host has enrolled yet. Start `phoenix-agent run` on a host with an enrolment token "
    "(`phoenix enrolment-token create NAME`): it appears here with its first heartbeat."
)
NO_COLLECTORS = "No experiment holds hosts now, so no collector runs for one."


@dataclass(frozen=True)
class FleetReading:
    """What one refresh read: ``GET /api/v1/hosts`` and ``GET /api/v1/collectors``, and when."""

    hosts: list[dict[str, Any]]
    collectors: list[dict[str, Any]]
    at: datetime


class FleetPage(LivePage):
    """Hosts and collectors, read from the API every ``refresh_seconds``."""

    title = "Fleet"
    refresh_seconds = param.Integer(default=10, bounds=(2, 3600), label="Every (s)")
    hosts = param.List(default=[], doc="The hosts as GET /api/v1/hosts last answered.")
    collectors = param.List(default=[], doc="The collectors as GET /api/v1/collectors answered.")
    read_at = param.Date(default=None, doc="When they were read (ages are counted to it).")
    attention_only = param.Boolean(
        default=False, label="Only hosts that need attention", doc="Hide the hosts in good health."
    )
    text = param.String(default="", label="Host or label contains", doc="Filter by host or label.")

    def content(self) -> pn.viewable.Viewable:
        hosts = pn.bind(self._host_rows, self.param.hosts, self.param.collectors,
                        self.param.read_at, self.param.attention_only, self.param.text)  # fmt: skip
        self._hosts_table = data_table(
            hosts,
            "phoenix-hosts",
            host_row_style,
            formatters={"CPU (%)": number_format(1), "memory (%)": number_format(1)},
        )
        collectors = pn.bind(self._collector_rows, self.param.collectors, self.param.read_at)
        self._collectors_table = data_table(collectors, "phoenix-collectors", collector_row_style)
        self._no_collectors = pn.pane.Markdown(NO_COLLECTORS, visible=False)
        summary = pn.bind(
            self._summary, self.param.hosts, self.param.collectors, self.param.read_at
        )
        return pn.Column(
            pn.pane.Markdown(summary, css_classes=["phoenix-fleet-summary"]),
            pn.pane.Markdown("### Hosts"),
            pn.pane.Markdown(
                "Status and host CPU and memory (% of the host) as of each host's last "
                "heartbeat; age: since that heartbeat, when the page last read the API.",
                styles={"color": "#555"},
            ),
            self._hosts_table,
            pn.pane.Markdown("### Collectors of running experiments"),
            pn.pane.Markdown(
                "Status and restarts as each agent last reported them. The API does not "
                "report a collector's CPU or memory outside an experiment's analysis.",
                styles={"color": "#555"},
            ),
            self._no_collectors,
            self._collectors_table,
            sizing_mode="stretch_width",
        )

    def controls(self) -> list[pn.viewable.Viewable]:
        return [
            pn.widgets.Checkbox.from_param(self.param.attention_only),
            pn.widgets.TextInput.from_param(self.param.text, width=WIDGET_WIDTH),
        ]

    def read(self) -> FleetReading:
        return FleetReading(self.client.hosts(), self.client.collectors(), datetime.now(UTC))

    def draw(self, data: FleetReading) -> None:
        self.param.update(hosts=data.hosts, collectors=data.collectors, read_at=data.at)
        self._no_collectors.visible = not data.collectors
        self._collectors_table.visible = bool(data.collectors)
        if data.hosts:
            self.state.ready()
        else:
            self.state.empty(NO_HOSTS)

    @staticmethod
    def _host_rows(
        hosts: list[dict[str, Any]],
        collectors: list[dict[str, Any]],
        read_at: datetime | None,
        attention_only: bool,
        text: str,
    ) -> pd.DataFrame:
        table = fleet_table(hosts, collectors, read_at or datetime.now(UTC))
        return filter_hosts(table, attention_only, text)

    @staticmethod
    def _collector_rows(collectors: list[dict[str, Any]], read_at: datetime | None) -> pd.DataFrame:
        return collectors_table(collectors, read_at or datetime.now(UTC))

    @staticmethod
    def _summary(
        hosts: list[dict[str, Any]], collectors: list[dict[str, Any]], read_at: datetime | None
    ) -> str:
        now = read_at or datetime.now(UTC)
        return fleet_summary(fleet_table(hosts, collectors, now), collectors_table(collectors, now))
