"""The prometheus-agent compiler: every template gives a config promtool accepts, or is refused
with the documented reason; value steps need reference values; collisions are refused."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from phoenix_core.errors import ValidationFailed
from phoenix_core.pipelines.compiler import CompileContext, ScrapeTarget
from phoenix_core.pipelines.ir import parse_pipeline
from phoenix_core.pipelines.prometheus_agent import compile_prometheus_agent, duration, re2_escape
from phoenix_core.pipelines.templates import TemplateLibrary

LIBRARY = TemplateLibrary.builtin()
PROMTOOL = shutil.which("promtool")
REFERENCE = pd.DataFrame(
    {
        "__name__": ["process_cpu_seconds_total"] * 3 + ["process_open_fds"] * 3,
        "process": ["a", "b", "c"] * 2,
        "pid": ["1", "2", "3"] * 2,
        "job": ["loadsim"] * 6,
        "__value__": [0.001, 2.0, 3.0, 10.0, 20.0, 30.0],
    }
)


def _context(reference: pd.DataFrame | None = REFERENCE) -> CompileContext:
    return CompileContext(
        experiment_id="8d1c2b7e-0000-4000-8000-000000000001",
        variant="cand",
        host="web-1",
        targets=[ScrapeTarget("loadsim", "127.0.0.1:9101"), ScrapeTarget("node", "127.0.0.1:9100")],
        remote_write_url="http://127.0.0.1:9090/api/v1/write",
        ports={"http": 19100},
        reference=reference,
    )


def _promtool(text: str, tmp_path: Path) -> None:
    assert PROMTOOL, "promtool is installed by ./dev.sh (Debian package prometheus)"
    config = tmp_path / "agent.yml"
    config.write_text(text)
    result = subprocess.run(
        [PROMTOOL, "check", "config", "--agent", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", [n for n in LIBRARY.names() if n != "aggregate"])
@pytest.mark.parametrize("critical", [[], ['{process="a"}', 'process_open_fds{pid!="3"}']])
def test_templates_compile_to_configs_promtool_accepts(
    name: str, critical: list[str], tmp_path: Path
) -> None:
    variables = {"critical": critical} if "critical" in LIBRARY.get(name).variables else {}
    if name == "drop-labels":
        variables["labels"] = ["job"]  # the same on every series: redundant, no collisions
    rendered = compile_prometheus_agent(LIBRARY.get(name).render(variables), _context())
    _promtool(rendered.text, tmp_path)
    config = yaml.safe_load(rendered.text)
    assert config["global"]["external_labels"] == {
        "phoenix_experiment_id": "8d1c2b7e-0000-4000-8000-000000000001",
        "phoenix_variant": "cand",
        "phoenix_host": "web-1",
    }
    assert [job["job_name"] for job in config["scrape_configs"]] == [
        "loadsim",
        "node",
        "phoenix_collector",
    ]
    assert config["scrape_configs"][2]["static_configs"] == [{"targets": ["127.0.0.1:19100"]}]
    assert config["remote_write"][0]["url"] == "http://127.0.0.1:9090/api/v1/write"
    relabel = config["scrape_configs"][0]["metric_relabel_configs"]
    assert relabel[: len(IDENTITY_RENAMES)] == IDENTITY_RENAMES
    if len(relabel) > len(IDENTITY_RENAMES):
        assert relabel[-1] == {"action": "labeldrop", "regex": "__tmp_phoenix_.*"}
    assert len(rendered.sha256) == 64


def test_aggregate_is_refused_with_the_reason() -> None:
    with pytest.raises(ValidationFailed) as caught:
        compile_prometheus_agent(LIBRARY.get("aggregate").render(), _context())
    assert str(caught.value) == (
        "Invalid input: steps.0: aggregate cannot run on prometheus-agent: "
        "relabelling cannot aggregate series"
    )


@pytest.mark.parametrize("name", ["top-k", "adaptive-filter", "hybrid", "drop-labels"])
def test_value_and_inventory_steps_need_reference_values(name: str) -> None:
    with pytest.raises(ValidationFailed, match="needs reference values"):
        compile_prometheus_agent(LIBRARY.get(name).render(), _context(reference=None))


def test_drop_labels_that_would_collide_is_refused() -> None:
    pipeline = LIBRARY.get("drop-labels").render({"labels": ["pid", "process"]})
    with pytest.raises(ValidationFailed, match="shows 4 series would collide once pid, process"):
        compile_prometheus_agent(pipeline, _context())


def test_keep_lists_carry_the_reference_decision() -> None:
    rendered = compile_prometheus_agent(LIBRARY.get("top-k").render({"k": 1}), _context())
    assert rendered.refresh_seconds == 60
    relabel = yaml.safe_load(rendered.text)["scrape_configs"][0]["metric_relabel_configs"]
    # c has the highest cpu (3.0): everything else in process_.* is dropped
    assert {
        "action": "replace",
        "source_labels": ["process"],
        "regex": "c",
        "target_label": "__tmp_phoenix_mark",
        "replacement": "",
    } in relabel


def test_filter_below_drop_list_names_whole_series() -> None:
    rendered = compile_prometheus_agent(LIBRARY.get("adaptive-filter").render(), _context())
    relabel = yaml.safe_load(rendered.text)["scrape_configs"][0]["metric_relabel_configs"]
    assert relabel[len(IDENTITY_RENAMES)] == {
        "action": "drop",
        "source_labels": ["__name__", "job", "pid", "process"],
        "regex": "process_cpu_seconds_total;loadsim;1;a",
    }


def test_separator_in_a_dropped_series_is_refused() -> None:
    reference = REFERENCE.assign(process=["a;b", "b", "c"] * 2)
    with pytest.raises(ValidationFailed, match="contains ';'"):
        compile_prometheus_agent(LIBRARY.get("adaptive-filter").render(), _context(reference))


IDENTITY_RENAMES = [
    *(
        {
            "action": "replace",
            "source_labels": [label],
            "regex": "(.+)",
            "target_label": f"exported_{label}",
            "replacement": "$1",
        }
        for label in ("phoenix_experiment_id", "phoenix_variant", "phoenix_host")
    ),
    {"action": "labeldrop", "regex": "phoenix_experiment_id|phoenix_variant|phoenix_host"},
]


def test_a_pipeline_without_steps_only_moves_a_source_label_named_like_phoenix_s() -> None:
    rendered = compile_prometheus_agent(parse_pipeline({"steps": []}), _context())
    for job in yaml.safe_load(rendered.text)["scrape_configs"][:2]:
        assert job["metric_relabel_configs"] == IDENTITY_RENAMES
    assert rendered.refresh_seconds is None


def test_helpers() -> None:
    assert re2_escape("a.b*c(d)") == r"a\.b\*c\(d\)"
    assert duration(15) == "15s"
    assert duration(0.5) == "500ms"


def test_sink_credentials_reach_remote_write(tmp_path: Path) -> None:
    context = dataclasses.replace(
        _context(),
        remote_write_bearer_token="tok-123",
        remote_write_headers={"X-Scope-OrgID": "tenant-7"},
    )
    rendered = compile_prometheus_agent(LIBRARY.get("baseline").render({}), context)
    _promtool(rendered.text, tmp_path)
    (target,) = yaml.safe_load(rendered.text)["remote_write"]
    assert target["authorization"] == {"type": "Bearer", "credentials": "tok-123"}
    assert target["headers"] == {"X-Scope-OrgID": "tenant-7"}
