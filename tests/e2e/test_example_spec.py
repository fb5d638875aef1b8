"""``phoenix experiment create docs/examples/experiment.yaml`` against a real ``phoenix api
serve`` (SQLite): the documented example is created as it is, on the hosts its selector
matches, with its name, variants and gates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

import phoenix_core
from phoenix_core.spec import ExperimentSpec
from support.processes import api_server, run_cli

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "experiment.yaml"
# hosts as agents enrol them (`phoenix-agent run --label ...`); the example selects env=staging,
# role=web
HOSTS = {
    "web-1": {"env": "staging", "role": "web"},
    "web-2": {"env": "staging", "role": "web", "zone": "b"},
    "db-1": {"env": "staging", "role": "db"},
}


def _cli_output(args: list[str], env: dict[str, str]) -> str:
    result = run_cli("phoenix", args, env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of an operator's ``phoenix`` against an API with HOSTS enrolled."""
    env = {"PHOENIX_DATA_DIR": str(tmp_path), "PHOENIX_RUN_CONTROLLER": "false"}
    token = _cli_output(["token", "create", "olga", "--role", "operator"], env)
    enrolment = _cli_output(["enrolment-token", "create", "rack-1"], env)
    with api_server(env) as (url, _):
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {enrolment}"}) as c:
            for hostname, labels in HOSTS.items():
                body = {
                    "hostname": hostname,
                    "agent_version": phoenix_core.__version__,
                    "labels": labels,
                }
                assert c.post("/agent/v1/register", json=body).status_code == 201
        yield {"PHOENIX_API_URL": url, "PHOENIX_TOKEN": token}


def test_the_example_spec_is_created_as_it_is(operator: dict[str, str]) -> None:
    example = yaml.safe_load(EXAMPLE.read_text())
    table = _cli_output(["experiment", "create", str(EXAMPLE)], operator)
    header, line = table.splitlines()
    assert header.startswith("ID")
    experiment_id, state = line.split()[:2]
    assert state == "draft"
    assert line.endswith(example["name"])

    shown = json.loads(
        _cli_output(["experiment", "show", experiment_id, "--output", "json"], operator)
    )
    draft = shown  # one experiment: an object
    spec = draft["spec"]
    assert spec["name"] == example["name"]
    assert [(v["name"], v["role"], v["template"]) for v in spec["variants"]] == [
        (v["name"], v["role"], v["template"]) for v in example["variants"]
    ]
    assert [v["variables"] for v in spec["variants"]] == [
        v.get("variables", {}) for v in example["variants"]
    ]
    gates = [{k: v for k, v in gate.items() if v is not None} for gate in spec["gates"]]
    assert gates == example["gates"]  # the bounds it sets, in order; the rest unset
    assert spec["critical_selectors"] == example["critical_selectors"]
    # the whole spec round-trips: what was stored is what the file says, defaults filled in
    assert ExperimentSpec.parse(spec) == ExperimentSpec.parse(example)

    planned = json.loads(
        _cli_output(["experiment", "dry-run", experiment_id, "--output", "json"], operator)
    )["plans"]
    assert {(p["host"], p["variant"]) for p in planned} == {
        (host, v["name"]) for host in ("web-1", "web-2") for v in example["variants"]
    }
