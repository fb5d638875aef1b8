"""The real OpenTelemetry Collector Phoenix builds (``deploy/otelcol/build.sh``) accepts every
config the otelcol compiler renders, and has exactly the components the validator allows."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from phoenix_core.errors import ValidationFailed
from phoenix_core.pipelines.otelcol import compile_otelcol
from phoenix_core.pipelines.otelcol_validate import SECTIONS, pinned_components
from support.otelcol import LIBRARY, collector_binary, context, inventory, template_cases


def _validate(config: str, folder: Path) -> subprocess.CompletedProcess[str]:
    path = folder / "config.yaml"
    path.write_text(config)
    return subprocess.run(
        [str(collector_binary()), "validate", f"--config={path}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(("name", "variables", "refused"), template_cases())
def test_the_collector_validates_every_config_the_compiler_renders(
    name: str, variables: dict[str, Any], refused: str | None, tmp_path: Path
) -> None:
    pipeline = LIBRARY.get(name).render(variables)
    if refused:  # (the compiler refuses it, saying why: test_otelcol.py)
        with pytest.raises(ValidationFailed):
            compile_otelcol(pipeline, context(inventory()))
        return
    rendered = compile_otelcol(pipeline, context(inventory()))
    checked = _validate(rendered.text, tmp_path)
    assert checked.returncode == 0, checked.stderr


def test_the_collector_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    """(so that the check above can fail)"""
    rendered = compile_otelcol(LIBRARY.get("top-k").render({}), context(inventory()))
    broken = rendered.text.replace("IsMatch(metric.name", "NoSuchFunction(metric.name", 1)
    assert broken != rendered.text
    checked = _validate(broken, tmp_path)
    assert checked.returncode != 0
    assert "NoSuchFunction" in checked.stderr


def test_the_collector_has_exactly_the_validators_components(tmp_path: Path) -> None:
    listed = yaml.safe_load(
        subprocess.run(
            [str(collector_binary()), "components"],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout
    )  # fmt: skip
    pinned = pinned_components()
    for section, kind in SECTIONS.items():
        built = {c["name"]: c["module"].split()[0] for c in listed.get(section) or []}
        wanted = {c.type: c.module for c in pinned.components if c.kind == kind}
        assert {t: m for t, m in built.items() if t in wanted} == {
            t: m for t, m in wanted.items() if t in built
        }, section
        assert set(built) <= set(wanted), f"{section}: built in, unknown to the validator"
        # `components` leaves out a factory that has an alias (at v0.149.0: otlphttp, whose
        # type is now otlp_http): the collector must still accept the type the validator knows
        for missing in sorted(set(wanted) - set(built)):
            assert section == "exporters", f"{section}: {missing} is not built in"
            config = {
                "receivers": {"otlp": {"protocols": {"http": {}}}},
                "exporters": {missing: {"endpoint": "http://127.0.0.1:4318"}},
                "service": {
                    "pipelines": {"metrics": {"receivers": ["otlp"], "exporters": [missing]}}
                },
            }
            checked = _validate(yaml.safe_dump(config), tmp_path)
            assert checked.returncode == 0, f"{missing}: {checked.stderr}"
