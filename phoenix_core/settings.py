"""Settings shared by the server-side deployables (read from ``PHOENIX_*`` environment variables).

Built in entry points and passed down; nothing here is read at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from phoenix_core.environment import closest, unknown_variables
from phoenix_core.errors import ConfigurationError

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

__all__ = [
    "DatabaseSettings",
    "default_data_dir",
    "known_variables",
    "load_settings",
    "unknown_variable_warnings",
]


def default_data_dir() -> Path:
    """Where Phoenix keeps local state when nothing else is set: ``$XDG_DATA_HOME/phoenix``."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "phoenix"


class DatabaseSettings(BaseSettings):
    """Which database Phoenix uses.

    Unset, ``PHOENIX_DATABASE_URL`` means the embedded default: a SQLite file in the data
    folder. A ``postgresql+psycopg://…`` URL switches to production mode.
    """

    model_config = SettingsConfigDict(env_prefix="PHOENIX_", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Local data folder (holds the embedded SQLite database).",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset means sqlite:///<data_dir>/phoenix.db.",
    )

    @property
    def effective_database_url(self) -> str:
        """The URL in force: the configured one, or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'phoenix.db').resolve()}"


def load_settings(cls: type[SettingsT], **overrides: Any) -> SettingsT:
    """Build ``cls`` from the environment plus command-line ``overrides`` (None means unset).

    A bad value becomes a ``ConfigurationError`` naming the environment variable.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return cls(**given)
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = "; ".join(
            f"{prefix}{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"Invalid setting {problems}.") from None


def known_variables(*classes: type[BaseSettings]) -> set[str]:
    """The environment variables the settings ``classes`` read (``PHOENIX_DATA_DIR``, …)."""
    return {
        f"{cls.model_config.get('env_prefix', '')}{name}".upper()
        for cls in classes
        for name in cls.model_fields
    }


def unknown_variable_warnings(
    program: str,
    classes: list[type[BaseSettings]],
    environ: Mapping[str, str] | None = None,
    *,
    others: tuple[str, ...] = (),
) -> list[str]:
    """One sentence per ``PHOENIX_*`` variable that none of ``classes`` reads (a typo, most
    often), for ``program`` to print; the ``others`` prefixes belong to other programs."""
    environ = os.environ if environ is None else environ
    known = known_variables(*classes)
    warnings = []
    for variable in unknown_variables(environ, "PHOENIX_", known, others=others):
        close = closest(variable, known)
        hint = f"; did you mean {close}?" if close else "."
        warnings.append(f"{variable} is not a setting of {program}, which ignores it{hint}")
    return warnings
