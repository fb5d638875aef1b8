"""The agent reads its ``PHOENIX_AGENT_*`` variables itself (no pydantic-settings): JSON for
lists and objects, any case, command-line values first, and every mistake one sentence naming
the variable, a typo included."""

from __future__ import annotations

from pathlib import Path

import pytest

from phoenix_agent.settings import load_agent_settings
from phoenix_core.errors import ConfigurationError


def test_variables_become_typed_settings() -> None:
    settings = load_agent_settings(
        {
            "PHOENIX_AGENT_API_URL": "http://phoenix:8000",
            "phoenix_agent_labels": '{"env": "staging"}',
            "PHOENIX_AGENT_CUSTOM_LOAD_SCRIPTS": '["/opt/load.sh"]',
            "PHOENIX_AGENT_CRASH_LOOP_AFTER": "3",
            "PHOENIX_AGENT_ENROLMENT_TOKEN": "phx_e_secret",
            "PHOENIX_AGENT_PORT_RANGE": "20000-20099",
            "HOME": "/root",  # not ours: ignored
        },
        api_url=None,  # not given on the command line
        hostname="web-1",
    )
    assert settings.api_url == "http://phoenix:8000"
    assert settings.labels == {"env": "staging"}
    assert settings.custom_load_scripts == [Path("/opt/load.sh")]
    assert settings.crash_loop_after == 3
    assert settings.hostname == "web-1"
    assert settings.ports == range(20_000, 20_100)
    assert "phx_e_secret" not in repr(settings) + str(settings.model_dump(mode="json"))


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"PHOENIX_AGENT_APIURL": "x"},
            "Unknown setting PHOENIX_AGENT_APIURL: did you mean PHOENIX_AGENT_API_URL\\? (known: ",
        ),
        ({"PHOENIX_AGENT_LABELS": "env=prod"}, "Invalid setting PHOENIX_AGENT_LABELS: not JSON"),
        ({"PHOENIX_AGENT_CRASH_LOOP_AFTER": "0"}, "Invalid setting PHOENIX_AGENT_CRASH_LOOP_AFTER"),
        (
            {"PHOENIX_AGENT_PORT_RANGE": "30000-20000"},
            "Invalid setting PHOENIX_AGENT_PORT_RANGE: Value error, must be FIRST-LAST",
        ),
        ({"PHOENIX_AGENT_PORT_RANGE": "20000"}, "Invalid setting PHOENIX_AGENT_PORT_RANGE"),
    ],
)
def test_a_mistake_is_one_sentence_naming_the_variable(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match="^" + message.replace("(", r"\(")):
        load_agent_settings(environ)
