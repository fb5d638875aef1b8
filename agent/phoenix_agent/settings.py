"""Settings of the host agent (``PHOENIX_AGENT_*`` environment variables)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["AgentSettings"]


def _default_state_dir() -> Path:
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "phoenix-agent"


class AgentSettings(BaseSettings):
    """What the agent needs to find the control plane and keep its state."""

    model_config = SettingsConfigDict(env_prefix="PHOENIX_AGENT_", extra="ignore")

    api_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL of the Phoenix API."
    )
    enrolment_token: SecretStr | None = Field(
        default=None, description="One-time token exchanged for this host's own token."
    )
    state_dir: Path = Field(
        default_factory=_default_state_dir,
        description="Folder for the host id, host token and supervised-process state.",
    )
    hostname: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=255,
        description="The name this host enrols under (experiments may name hosts by it).",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Host labels for experiment selectors (JSON object)."
    )
    poll_wait_seconds: float = Field(
        default=30.0, gt=0, le=60, description="How long one long-poll for tasks waits."
    )
    heartbeat_seconds: float = Field(
        default=10.0, gt=0, description="Interval of heartbeats (they also extend task leases)."
    )
    max_backoff_seconds: float = Field(
        default=60.0, gt=0, description="Longest wait between retries while the API fails."
    )
    prometheus_agent_binary: str = Field(
        default="prometheus", description="Prometheus, run in agent mode for 'prometheus-agent'."
    )
    otelcol_binary: str = Field(
        default="otelcol-contrib", description="The OpenTelemetry Collector for 'otelcol'."
    )
    apply_timeout_seconds: float = Field(
        default=30.0, gt=0, description="How long a started collector has to become healthy."
    )
    restart_backoff_seconds: float = Field(
        default=1.0, gt=0, description="First wait before restarting a collector that exited."
    )
    stable_seconds: float = Field(
        default=60.0, gt=0, description="Uptime after which a collector's failures are forgotten."
    )
    crash_loop_after: int = Field(
        default=5, ge=1, description="Quick failures in a row that make a collector crash_looping."
    )
    custom_load_scripts: list[Path] = Field(
        default_factory=list,
        description="Scripts a 'custom' load profile may run (a JSON list of paths).",
    )
    metrics_seconds: float = Field(
        default=15.0, gt=0, description="Interval of the agent's own measurements."
    )
    pushgateway_url: str | None = Field(
        default=None, description="Also push the agent's measurements to this Pushgateway."
    )
    log_level: str = Field(default="INFO", pattern=r"(?i)^(debug|info|warning|error)$")
