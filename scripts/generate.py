"""Regenerate the files that are generated from the code; ``--check`` only reports staleness.

    python scripts/generate.py           # rewrite them
    python scripts/generate.py --check   # exit 1 naming each file that is out of date

- ``environment.yml`` from ``pyproject.toml``: conda gives Python and pip; every Python
  dependency (base and all extras) comes from PyPI through pip exactly as pyproject.toml names it.
- ``docs/pipeline-support.md`` from the collector compilers (step × collector support matrix).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def environment(root: Path) -> str:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    name = project["name"]
    python = re.sub(r"^>=\s*", "", project["requires-python"])
    requirements: set[str] = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements.update(r for r in extra if not r.startswith(f"{name}["))
    lines = [
        "# Generated from pyproject.toml by scripts/generate.py; do not edit by hand.",
        "name: phoenix",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={python}",
        "  - pip",
        "  - pip:",
        *(f'      - "{r}"' for r in sorted(requirements, key=str.lower)),
        "      - --editable .",
    ]
    return "\n".join(lines) + "\n"


def support_matrix(_root: Path) -> str:
    from phoenix_core.pipelines.collectors import support_matrix_markdown

    return support_matrix_markdown()


GENERATED: dict[str, Callable[[Path], str]] = {
    "environment.yml": environment,
    "docs/pipeline-support.md": support_matrix,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; change nothing")
    parser.add_argument("--root", type=Path, default=ROOT, help="project folder")
    args = parser.parse_args()
    stale = []
    for relative, render in GENERATED.items():
        target = args.root / relative
        wanted = render(args.root)
        if target.exists() and target.read_text() == wanted:
            continue
        if args.check:
            stale.append(relative)
        else:
            target.write_text(wanted)
    for relative in stale:
        print(f"{relative} is out of date: run python scripts/generate.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
