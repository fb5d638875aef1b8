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
    log_level: str = Field(
        default="INFO",
        pattern=r"(?i)^(debug|info|warning|error)$",
        description="debug, info, warning or error.",
    )
    keep_alive_seconds: int = Field(
        default=75,
        ge=1,
        description="How long an idle client connection stays open. Keep it above the agents' "
        "heartbeat interval (10 s), so that each agent keeps its connections.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Larger request bodies are refused (413)."
    )
    run_controller: bool = Field(
        default=True,
        description="Run the experiment controller in this process (one acts per database). "
        "Set false on replicas that should only serve requests.",
    )
    worker_threads: int = Field(
        default=4,
        ge=1,
        le=200,
        description="Threads that run requests' blocking work (database calls, rendering); "
        "long-polls hold none while they wait. Raise it only if requests queue for a thread "
        "while the CPU is idle (see bench/README.md).",
    )
    hot_path_connections: int = Field(
        default=4,
        ge=1,
        le=200,
        description="PostgreSQL connections of the fast path's pool (heartbeats, polls, token "
        "lookups, the experiment list). Raise it if those requests wait for a connection "
        "while PostgreSQL has idle cores (see bench/README.md).",
    )
    full_collection_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Python's full garbage collection runs on this clock rather than on the "
        "survivors' count. Lower it if the process's memory keeps growing (see "
        "bench/README.md).",
    )
    dashboards: bool = Field(
        default=False,
        description="Also serve the Panel dashboards under /dashboards (they read this API "
        "over HTTP, at its own address). Needs the dashboards extra.",
    )
    token_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        description="On PostgreSQL, how long who holds a token is remembered (a revocation "
        "forgets at once, in every process); 0 looks every token up. Lower it if expiries must "
        "take effect sooner. SQLite always looks up. Also how often a WebSocket session's token "
        "is checked again while it sends nothing (at least every second).",
    )
    recommendations_retention_days: int = Field(
        default=30,
        ge=1,
        le=36_500,
        description="A stored recommendation last computed longer ago expires: GET "
        "/api/v1/recommendations/{id} answers 404 (list them again), and the next listing "
        "deletes it. A draft experiment made of one keeps what it needs.",
    )
