"""docs/operations.md documents every setting with its default: each field of each settings
class has a row in its section's table naming its variable, and a scalar default appears in
that row as it would be written (so a new setting, or a changed default, fails here until the
documentation says so)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from phoenix_agent.settings import AgentSettings
from phoenix_api.settings import ApiSettings
from phoenix_core.client import ClientSettings
from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.settings import DatabaseSettings

OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"

SECTIONS: list[tuple[type[BaseModel], str, str, bool]] = [
    # the class, its section's heading, its variables' prefix, whether rows drop the prefix
    (DatabaseSettings, "## The database", "PHOENIX_", False),
    (ApiSettings, "## The API process", "PHOENIX_", False),
    (AgentSettings, "## The agent", "PHOENIX_AGENT_", False),
    (ControllerSettings, "## The controller", "PHOENIX_CONTROLLER_", True),
    (ClientSettings, "## The command line", "PHOENIX_", False),
]


def _section(heading: str) -> str:
    text = OPERATIONS.read_text()
    start = text.index(f"\n{heading}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _written(default: object) -> str | None:
    """How the table writes a scalar default, or None for one it describes in words."""
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, int):
        return str(default)
    if isinstance(default, float):
        return str(int(default)) if default.is_integer() else str(default)
    if isinstance(default, str):
        return default
    return None


CASES = [
    (cls, heading, prefix, short, name)
    for cls, heading, prefix, short in SECTIONS
    for name in cls.model_fields
    if not (cls is ApiSettings and name in DatabaseSettings.model_fields)
]


@pytest.mark.parametrize(
    ("cls", "heading", "prefix", "short", "name"),
    CASES,
    ids=[f"{c[0].__name__}.{c[4]}" for c in CASES],
)
def test_each_setting_has_a_row_with_its_default(
    cls: type[BaseModel], heading: str, prefix: str, short: bool, name: str
) -> None:
    variable = name.upper() if short else f"{prefix}{name.upper()}"
    rows = [
        line
        for line in _section(heading).splitlines()
        if line.startswith("|") and re.search(rf"`{variable}`", line)
    ]
    assert rows, f"{heading} in docs/operations.md has no row for `{variable}`"
    field = cls.model_fields[name]
    if field.default is PydanticUndefined or field.default is None:
        return  # a factory's or an unset default is described in words
    written = _written(field.default)
    if written is None:
        return
    assert any(written in row.split("|")[2] for row in rows), (
        f"the row of `{variable}` does not give its default {written}: {rows}"
    )
