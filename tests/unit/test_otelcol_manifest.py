"""The collector build: deploy/otelcol/build.sh explains itself. (Its manifest is generated
from the component list the validator reads: tests/unit/test_generated_files.py; the built
binary itself: tests/integration/test_otelcol_binary.py.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "deploy" / "otelcol" / "build.sh"


def test_the_build_script_parses_and_explains_itself() -> None:
    assert subprocess.run(["bash", "-n", str(BUILD)], check=False).returncode == 0
    shown = subprocess.run(
        ["bash", str(BUILD), "--help"], capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0
    assert "--cold" in shown.stdout
