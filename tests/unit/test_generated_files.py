"""Generated files (environment.yml, the support matrix) match what the code generates now."""

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


def test_committed_generated_files_are_current() -> None:
    result = _check(ROOT)
    assert result.returncode == 0, result.stderr


def test_a_changed_dependency_makes_environment_yml_stale(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "environment.yml", tmp_path)
    shutil.copy(ROOT / "docs" / "pipeline-support.md", tmp_path / "docs")
    pyproject = (ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(pyproject.replace('"psutil>=5.9"', '"psutil>=6"'))
    result = _check(tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "environment.yml is out of date: run python scripts/generate.py"
    )
