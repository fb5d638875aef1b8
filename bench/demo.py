"""Benchmark: ``phoenix demo`` from the command to its printed verdict (issue 20: under 3 min).

    .venv/bin/python bench/demo.py [--repeat R] [-- demo options…]

Runs the real demo (Prometheus, the API and its controller, an agent, three prometheus-agent
collectors, the load; SQLite) R times with its default options and prints, per run, the seconds
from starting the command to the line that says the verdict, to the experiment's end, and to
the command's exit (stopping everything it started), and the verdict it printed.
"""

from __future__ import annotations

import argparse
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

PHOENIX = Path(sys.executable).parent / "phoenix"


def one_run(options: list[str]) -> tuple[float, float, float, str]:
    start = time.monotonic()
    verdict_at = completed_at = float("nan")
    verdict = "-"
    with subprocess.Popen(
        [str(PHOENIX), "demo", *options], stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if "analyzing -> " in line and math.isnan(completed_at):
                completed_at = time.monotonic() - start
            if line.startswith("Verdict: "):
                verdict_at, verdict = time.monotonic() - start, line.strip()
        code = process.wait()
    if code != 0:
        raise SystemExit(f"phoenix demo exited with {code}")
    return verdict_at, completed_at, time.monotonic() - start, verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("options", nargs="*", help="passed to phoenix demo (after --)")
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    print(f"phoenix demo {' '.join(args.options) or '(default options)'}")
    for run in range(args.repeat):
        verdict_at, completed_at, total, verdict = one_run(args.options)
        print(
            f"run {run + 1}: experiment completed at {completed_at:.1f} s, verdict printed at"
            f" {verdict_at:.1f} s, command done at {total:.1f} s — {verdict}"
        )


if __name__ == "__main__":
    main()
