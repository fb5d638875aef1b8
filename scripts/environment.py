"""Generate ``environment.yml`` (a conda environment) from ``pyproject.toml``.

    python scripts/environment.py           # rewrite environment.yml
    python scripts/environment.py --check   # exit 1 if environment.yml is out of date

Conda provides Python and pip; every Python dependency (base and all extras) comes from PyPI
through pip, exactly as pyproject.toml names it, so the two files cannot disagree.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def render(pyproject: Path) -> str:
    project = tomllib.loads(pyproject.read_text())["project"]
    name = project["name"]
    python = re.sub(r"^>=\s*", "", project["requires-python"])
    requirements: set[str] = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements.update(r for r in extra if not r.startswith(f"{name}["))
    lines = [
        "# Generated from pyproject.toml by scripts/environment.py; do not edit by hand.",
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; change nothing")
    parser.add_argument("--root", type=Path, default=ROOT, help="project folder")
    args = parser.parse_args()
    target = args.root / "environment.yml"
    wanted = render(args.root / "pyproject.toml")
    if args.check:
        if not target.exists() or target.read_text() != wanted:
            print(f"{target} is out of date: run python scripts/environment.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
