"""Settings of the host agent (``PHOENIX_AGENT_*`` environment variables).

Read with :func:`load_agent_settings`, not pydantic-settings as on the server side: that library
(with asyncio and python-dotenv, which it imports) is ~3 MB of an agent whose idle RSS must stay
under 40 MB. The rules are the ones pydantic-settings applies to these fields:
``PHOENIX_AGENT_<FIELD>`` (any case), JSON for the list and object fields, every value validated
by the model. Stricter in one way: an unknown ``PHOENIX_AGENT_*`` variable (a typo) is an error.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_origin

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from phoenix_core.environment import unknown_setting, unknown_variables
from phoenix_core.errors import ConfigurationError

__all__ = ["ENV_PREFIX", "AgentSettings", "load_agent_settings"]

ENV_PREFIX = "PHOENIX_AGENT_"


def _default_state_dir() -> Path:
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "phoenix-agent"


class AgentSettings(BaseModel):
    """What the agent needs to find the control plane and keep its state."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
    port_range: str | None = Field(
        default=None,
        pattern=r"^\d{1,5}-\d{1,5}$",
        description="Ports collectors may listen on, e.g. 20000-29999 (unset: any the "
        "controller allocates; a task with a port outside fails).",
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

    @property
    def ports(self) -> range | None:
        """``port_range`` as a range (both ends included), or None for any port."""
        if self.port_range is None:
            return None
        first, last = (int(end) for end in self.port_range.split("-"))
        return range(first, last + 1)

    @field_validator("port_range")
    @classmethod
    def _ordered(cls, value: str | None) -> str | None:
        if value is not None:
            first, last = (int(end) for end in value.split("-"))
            if not 1 <= first <= last <= 65535:
                raise ValueError("must be FIRST-LAST with 1 <= FIRST <= LAST <= 65535")
        return value


def load_agent_settings(
    environ: Mapping[str, str] | None = None, **overrides: Any
) -> AgentSettings:
    """The settings from ``environ`` (default: the process environment) and command-line
    ``overrides`` (None means not given; given ones win). A bad or unknown value is a
    ``ConfigurationError`` naming the variable."""
    environ = os.environ if environ is None else environ
    fields = AgentSettings.model_fields
    known = [ENV_PREFIX + field.upper() for field in fields]
    for variable in unknown_variables(environ, ENV_PREFIX, known):
        raise ConfigurationError(unknown_setting(variable, known))
    values: dict[str, Any] = {}
    for variable, text in environ.items():
        if not variable.upper().startswith(ENV_PREFIX):
            continue
        name = variable[len(ENV_PREFIX) :].lower()
        if get_origin(fields[name].annotation) in (list, dict):
            try:
                values[name] = json.loads(text)
            except ValueError as exc:
                raise ConfigurationError(f"Invalid setting {variable}: not JSON ({exc}).") from None
        else:
            values[name] = text
    values |= {key: value for key, value in overrides.items() if value is not None}
    try:
        return AgentSettings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"Invalid setting {problems}.") from None
