"""Generated files (environment.yml, the support matrix, the collector build manifest, the KPI
catalog in docs/kpis.md, the spec reference) match what the code generates now."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "generate.py"


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--root", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )


def _copy_sources_and_generated(root: Path) -> None:
    """Into ``root``: the generated files and what they are generated from (not the code)."""
    for relative in (
        "pyproject.toml",
        "environment.yml",
        "docs/pipeline-support.md",
        "deploy/otelcol/builder-config.yaml",
        "phoenix_core/pipelines/otelcol_components.yaml",
        "docs/kpis.md",
        "docs/spec-reference.md",
    ):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, root / relative)


def test_committed_generated_files_are_current() -> None:
    result = _check(ROOT)
    assert result.returncode == 0, result.stderr


def test_a_changed_dependency_makes_environment_yml_stale(tmp_path: Path) -> None:
    _copy_sources_and_generated(tmp_path)
    pyproject = (ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(pyproject.replace('"psutil>=5.9"', '"psutil>=6"'))
    result = _check(tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "environment.yml is out of date: run python scripts/generate.py"
    )


def test_a_changed_component_list_makes_the_build_manifest_stale(tmp_path: Path) -> None:
    _copy_sources_and_generated(tmp_path)
    components = tmp_path / "phoenix_core/pipelines/otelcol_components.yaml"
    components.write_text(components.read_text().replace("release: v0.149.0", "release: v0.150.0"))
    result = _check(tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "deploy/otelcol/builder-config.yaml is out of date: run python scripts/generate.py"
    )


def test_a_changed_spec_makes_its_reference_stale(tmp_path: Path) -> None:
    _copy_sources_and_generated(tmp_path)
    reference = tmp_path / "docs/spec-reference.md"
    reference.write_text(reference.read_text().replace("`warmup_seconds`", "`warm_up`"))
    result = _check(tmp_path)
    assert result.returncode == 1
    assert "docs/spec-reference.md is out of date" in result.stderr
