"""Settings of the experiment controller (``PHOENIX_CONTROLLER_*``)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ControllerSettings"]


class ControllerSettings(BaseSettings):
    """Timers, limits and defaults the controller applies to every experiment."""

    model_config = SettingsConfigDict(env_prefix="PHOENIX_CONTROLLER_", extra="ignore")

    interval_seconds: float = Field(default=1.0, gt=0, description="Pause between passes.")
    port_range_start: int = Field(
        default=20_000,
        ge=1024,
        le=65535,
        description="First port collectors are given on a host; keep the range clear of "
        "other services there.",
    )
    port_range_end: int = Field(
        default=29_999, ge=1024, le=65535, description="Last port collectors are given."
    )
    deploy_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="An experiment whose collectors are not all started by then fails. Raise "
        "it for slow hosts or large first scrapes.",
    )
    metrics_outage_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A deploying experiment fails once the Prometheus the controller reads "
        "(prometheus_url) has not answered for this long: its keep-lists and its verdict "
        "need it. A shorter outage (a restart) is waited out.",
    )
    stop_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a finished experiment's hosts stay taken while its stops run.",
    )
    heartbeat_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A host without a heartbeat for this long is offline."
    )
    offline_grace_seconds: float = Field(
        default=60.0, ge=0, description="How long an offline host still counts for its experiment."
    )
    min_host_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Below this share of hosts online, an experiment fails.",
    )
    task_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a claimed task is held without a heartbeat before it returns to "
        "the queue. Keep it well above the agents' heartbeat interval.",
    )
    task_max_attempts: int = Field(
        default=5, ge=1, description="Claims a task gets before it is dead."
    )
    task_retention_days: float = Field(
        default=14.0, gt=0, description="Finished tasks older than this are deleted."
    )
    metrics_retention_days: float = Field(
        default=7.0, gt=0, description="Agents' metric samples older than this are deleted."
    )
    remote_write_url: str = Field(
        default="http://127.0.0.1:9090/api/v1/write",
        description="Where collectors write unless the experiment names a sink.",
    )
    prometheus_url: str = Field(
        default="http://127.0.0.1:9090", description="Where the baseline's measurements are read."
    )
    node_exporter_address: str = Field(
        default="127.0.0.1:9100",
        description="Where collectors scrape a 'node-exporter' source on each host.",
    )
    scrape_interval_seconds: float = Field(
        default=15.0, gt=0, description="How often collectors scrape their sources."
    )
    analysis_settle_seconds: float = Field(
        default=10.0,
        ge=0,
        description="Pause between the end of a run and reading its measurements, so the "
        "collectors' last remote writes have arrived (prometheus-agent sends at least every "
        "5 s).",
    )
    analysis_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long an analysis retries measurements it cannot read (Prometheus "
        "down) before the experiment completes inconclusive with that reason.",
    )
    config_url_prefix: str = Field(
        default="/agent/v1/configs/",
        description="Path under which agents download rendered configs; change it only "
        "behind a proxy that moves the agent API.",
    )

    @model_validator(mode="after")
    def _range(self) -> ControllerSettings:
        if self.port_range_end < self.port_range_start:
            raise ValueError("port_range_end must not be below port_range_start")
        return self
