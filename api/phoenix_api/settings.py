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
    keep_alive_seconds: int = Field(
        default=75,
        ge=1,
        description="How long an idle client connection stays open: longer than the agents' "
        "heartbeat interval (10 s), so that an agent keeps its connections instead of opening "
        "one per heartbeat.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Larger request bodies are refused (413)."
    )
    run_controller: bool = Field(
        default=True,
        description="Run the experiment controller in this process (one acts per database).",
    )
    worker_threads: int = Field(
        default=4,
        ge=1,
        le=200,
        description="Threads that run the blocking work of requests (database calls, "
        "rendering). Few contend less for Python's GIL: at 16 concurrent requests 4 served "
        "about 40 % more than 40 did (bench/api.py); long-polls hold none while they wait.",
    )
    hot_path_connections: int = Field(
        default=4,
        ge=1,
        le=200,
        description="PostgreSQL connections of the asyncio pool that serves the hot paths "
        "(heartbeats, the experiment list) without a worker thread. One event loop keeps few "
        "busy: under 16 clients 4 served heartbeats faster than 8 (fewer backends competing for "
        "the cores) and the list as fast (bench/README.md).",
    )
    full_collection_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Python's full garbage collection runs on this clock instead of when the "
        "collector counts enough survivors: with a fleet's long-polls held each one pauses "
        "every request 50-150 ms and frees next to nothing (bench/README.md), and the "
        "survivors' count let one run every 30-40 s under load.",
    )
    token_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        description="On PostgreSQL, remember who holds a token at most this long (each for "
        "between half of it and all of it, at random, so that tokens first seen together are "
        "not looked up again together; a revocation, heard from any process, forgets at once); "
        "0 looks every token up. SQLite always looks up.",
    )
