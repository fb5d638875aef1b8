"""docs/examples/experiment.yaml: it parses as it is, its gates build verdict gates, its
variants render, and it shows every field of the spec."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from phoenix_core.analysis.gates import Gate as VerdictGate
from phoenix_core.controller.deployment import Deployer
from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.errors import ValidationFailed
from phoenix_core.metrics.catalog import builtin_catalog
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.spec import ExperimentSpec, Gate, LoadProfile, Sink, Source, VariantSpec

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "experiment.yaml"
FIRST = EXAMPLE.with_name("first-experiment.yaml")  # docs/by-hand.md runs it


def _data(text: str | None = None) -> Any:
    return yaml.safe_load(EXAMPLE.read_text() if text is None else text)


def test_the_example_parses_as_it_is() -> None:
    spec = ExperimentSpec.parse(_data())
    assert spec.baseline.template == "baseline"
    assert len(spec.candidates) >= 2
    assert spec.host_selector is not None and spec.hosts is None
    assert spec.critical_selectors
    assert spec.load_profile is not None


def test_every_gate_builds_its_verdict_gate() -> None:
    spec = ExperimentSpec.parse(_data())
    assert len(spec.gates) >= 3
    catalog = builtin_catalog()
    for gate in spec.gates:
        verdict = gate.verdict_gate()
        assert isinstance(verdict, VerdictGate)
        assert verdict.kpi == catalog.get(gate.kpi).name
    kpis = {catalog.get(gate.kpi).name for gate in spec.gates}
    assert {"active_series", "collector_cpu_cores", "critical_coverage"} <= kpis


@pytest.mark.parametrize("example", [EXAMPLE, FIRST], ids=lambda p: p.name)
def test_every_variant_renders_as_the_controller_renders_it(example: Path) -> None:
    spec = ExperimentSpec.parse(yaml.safe_load(example.read_text()))
    deployer = Deployer(ControllerSettings(), TemplateLibrary.builtin())
    for variant in spec.variants:
        deployer.pipeline(spec, variant)  # raises ValidationFailed naming the variable


@pytest.mark.parametrize(
    "model",
    [ExperimentSpec, VariantSpec, Source, Sink, LoadProfile, Gate],
    ids=lambda m: m.__name__,
)
def test_every_field_is_shown(model: type[BaseModel]) -> None:
    """Each field of the spec's models is in the file, set or commented out."""
    text = EXAMPLE.read_text()
    for field in model.model_fields:
        assert re.search(rf"^[ #-]*{field}:", text, re.MULTILINE), f"{model.__name__}.{field}"


def test_each_gate_says_which_default_it_replaces() -> None:
    lines = EXAMPLE.read_text().splitlines()
    gates = [i for i, line in enumerate(lines) if line.startswith("  - kpi: ")]
    assert gates
    for index in gates:
        comment = []
        for line in reversed(lines[:index]):
            if not line.startswith("  #"):
                break
            comment.append(line)
        assert any("Replaces the default" in line for line in comment), lines[index]


def test_a_broken_copy_is_refused_naming_the_field() -> None:
    broken = EXAMPLE.read_text().replace("    max_change_percent: -30\n", "    max_change: -30\n")
    with pytest.raises(ValidationFailed) as caught:
        ExperimentSpec.parse(_data(broken))
    assert "gates.0.max_change" in [error.path for error in caught.value.errors]
