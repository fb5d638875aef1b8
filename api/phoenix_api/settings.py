"""Settings of the API process (``PHOENIX_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from phoenix_core.settings import DatabaseSettings

__all__ = ["ApiSettings"]


class ApiSettings(DatabaseSettings):
    """Everything ``phoenix api serve`` needs; built in the entry point and passed down."""

    model_config = SettingsConfigDict(env_prefix="PHOENIX_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port; 0 takes a free one.")
    log_level: str = Field(default="INFO", pattern=r"(?i)^(debug|info|warning|error)$")
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Larger request bodies are refused (413)."
    )
    run_controller: bool = Field(
        default=True,
        description="Run the experiment controller in this process (one acts per database).",
    )
