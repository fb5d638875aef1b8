"""environment.yml is generated from pyproject.toml; regenerating it changes nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "environment.py"


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--root", str(root)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_committed_environment_file_is_current() -> None:
    result = _check(ROOT)
    assert result.returncode == 0, result.stderr


def test_a_changed_dependency_makes_it_stale(tmp_path: Path) -> None:
    shutil.copy(ROOT / "environment.yml", tmp_path)
    pyproject = (ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(pyproject.replace('"psutil>=5.9"', '"psutil>=6"'))
    result = _check(tmp_path)
    assert result.returncode == 1
    assert "out of date" in result.stderr
