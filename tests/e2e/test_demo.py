"""``phoenix demo`` (what ``./dev.sh demo`` runs), short: the experiment completes, each
variant's measured series equal its forecast, and nothing it started is left running."""

from __future__ import annotations

import re
import subprocess

import psutil

from support.processes import BIN


def test_the_demo_runs_an_experiment_end_to_end() -> None:
    result = subprocess.run(
        [str(BIN / "phoenix"), "demo", "--series", "30", "--warmup", "2", "--duration", "8"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "running -> analyzing" in out and "analyzing -> completed" in out
    rows = {
        m.group(1): (int(m.group(2)), int(m.group(3)))
        for m in re.finditer(r"^  (\S+)\s+\S+\s+(\d+)\s+(\d+)\s+\S+ %$", out, re.MULTILINE)
    }
    # 30 processes x 4 metrics + the 5 series Prometheus adds per target; 20 kept; 10 over the floor
    assert rows == {"baseline": (125, 125), "top20": (85, 85), "cpu-floor": (105, 105)}, out
    assert "verdict inconclusive (no analyzer configured)" in out
    folder = re.search(r"Demo folder: (\S+)", out)
    assert folder
    leftovers = [
        p.info["cmdline"]
        for p in psutil.process_iter(["cmdline"])
        if any(folder.group(1) in arg for arg in p.info["cmdline"] or [])
    ]
    assert leftovers == []
