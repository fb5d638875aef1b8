"""``pip install .`` without extras gives a working agent: no pandas, SQLAlchemy or Panel."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import importlib, importlib.util, pkgutil, sys
import phoenix_agent
modules = ["phoenix_core", "phoenix_core.wire", "phoenix_core.errors", "phoenix_core.settings"]
modules += [m.name for m in pkgutil.walk_packages(phoenix_agent.__path__, "phoenix_agent.")]
for name in modules:
    importlib.import_module(name)
heavy = ["pandas", "sqlalchemy", "panel", "fastapi", "alembic", "psycopg", "holoviews"]
present = [name for name in heavy if importlib.util.find_spec(name) is not None]
assert not present, f"installed without extras, yet present: {present}"
print(len(modules), "modules imported")
"""


def test_agent_installs_and_runs_without_server_packages(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "*cache*", "build", "*.egg-info", "__pycache__"
        ),
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert pip.returncode == 0, pip.stderr
    help_text = subprocess.run(
        [str(venv / "bin" / "phoenix-agent"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "phoenix-agent" in help_text
    checked = subprocess.run(
        [str(venv / "bin" / "python"), "-c", CHECK], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import phoenix_agent, sys; print(phoenix_agent.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(venv) in site  # the installed copy, not the source tree
    top_level = {p.name for p in (venv / "lib").glob("python3*/site-packages/*")}
    assert "api" not in top_level
    assert "agent" not in top_level
