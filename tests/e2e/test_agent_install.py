"""``deploy/install-agent.sh`` (``pip install .`` without extras into a venv of its own, plus
the systemd unit) gives a working agent without pandas, SQLAlchemy or Panel, and a unit that
``systemd-analyze verify`` accepts without a word."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import importlib, importlib.util, pkgutil, sys
import phoenix_agent
modules = ["phoenix_core", "phoenix_core.wire", "phoenix_core.errors", "phoenix_core.logs"]
modules += [m.name for m in pkgutil.walk_packages(phoenix_agent.__path__, "phoenix_agent.")]
for name in modules:
    importlib.import_module(name)
heavy = ["pandas", "sqlalchemy", "panel", "fastapi", "alembic", "psycopg", "holoviews",
         "pydantic_settings", "yaml"]
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
    venv, units = tmp_path / "venv", tmp_path / "units"
    installed = subprocess.run(
        [
            str(ROOT / "deploy" / "install-agent.sh"),
            "--source",
            str(source),
            "--prefix",
            str(venv),
            "--unit-dir",
            str(units),
            "--env-file",
            str(tmp_path / "agent.env"),
            "--api-url",
            "http://phoenix:8000",
            "--no-user",
            "--no-start",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    unit = units / "phoenix-agent.service"
    assert f"ExecStart={venv}/bin/phoenix-agent run" in unit.read_text()
    assert "KillMode=process" in unit.read_text()
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
    assert (tmp_path / "agent.env").read_text() == "PHOENIX_AGENT_API_URL=http://phoenix:8000\n"
    assert (tmp_path / "agent.env").stat().st_mode & 0o777 == 0o600
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
