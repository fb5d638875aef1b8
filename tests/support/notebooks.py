"""Run the notebooks of ``notebooks/`` as a reader would, headless, and read what they showed.

``execute`` runs a notebook top to bottom with papermill: the parameters go into a cell that
papermill inserts after the one tagged ``parameters``, the kernel is ``python3`` (ipykernel's,
which jupyter_client starts with this venv's own Python), and the executed notebook is written
where the test says, so that a failure leaves it to read. A cell that raises ends the run with
``papermill.PapermillExecutionError`` (``ename``, ``evalue``, ``exec_count``).

Each notebook tags the code cells a test reads (``verdicts``, ``cost``, ``plot-savings`` …).
``tables`` reads a cell's DataFrames from the ``application/vnd.dataresource+json`` copy pandas
shows beside the HTML (``display.html.table_schema``): numbers, not formatted text, rounded by
pandas to 10 decimal places (compare with ``close``).
"""

from __future__ import annotations

import ast
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import papermill
import pytest
from jupyter_client.kernelspec import KernelSpecManager

__all__ = [
    "KERNEL",
    "NOTEBOOKS",
    "PLOT_MIMETYPES",
    "TIMINGS",
    "Executed",
    "cell",
    "close",
    "committed",
    "committed_outputs",
    "execute",
    "failed_cells",
    "kernel_problem",
    "mimetypes",
    "phoenix_imports",
    "report_seconds",
    "tables",
]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
KERNEL = "python3"
CELL_TIMEOUT = 120
"""Seconds a cell may run before papermill stops the notebook (each cell is a few API calls)."""
TABLE = "application/vnd.dataresource+json"
PLOT_MIMETYPES = {"application/vnd.holoviews_exec.v0+json", "text/html"}
"""What a HoloViews plot (bokeh backend) leaves in a notebook: its model's id and its HTML."""


def committed() -> list[Path]:
    """Every notebook in the repository's ``notebooks/``."""
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def kernel_problem() -> str | None:
    """Why the ``python3`` kernel would not run this venv's Python (a kernelspec of that name
    elsewhere on the Jupyter path wins over the venv's), or None."""
    spec = KernelSpecManager().get_kernel_spec(KERNEL)
    program = spec.argv[0]
    major, minor = sys.version_info[:2]
    if program in {"python", f"python{major}", f"python{major}.{minor}"}:
        return None  # jupyter_client starts these as sys.executable
    if Path(program).resolve() == Path(sys.executable).resolve():
        return None
    return (
        f"the {KERNEL!r} kernel runs {program} (kernelspec in {spec.resource_dir}), not this"
        f" venv's {sys.executable}: remove that kernelspec or put the venv's first on JUPYTER_PATH"
    )


@dataclass(frozen=True)
class Executed:
    notebook: nbformat.NotebookNode
    seconds: float
    """How long papermill took, kernel start included."""


def execute(notebook: Path, output: Path, **parameters: Any) -> Executed:
    """Run ``notebook`` top to bottom with ``parameters``; the executed notebook is also
    written to ``output``."""
    problem = kernel_problem()
    assert problem is None, problem
    started = time.monotonic()
    executed = papermill.execute_notebook(
        str(notebook),
        str(output),
        parameters=parameters,
        kernel_name=KERNEL,
        cwd=str(notebook.parent),
        progress_bar=False,
        log_output=False,
        execution_timeout=CELL_TIMEOUT,
    )
    return Executed(executed, time.monotonic() - started)


TIMINGS = pytest.StashKey[list[str]]()


def report_seconds(config: pytest.Config, executed: Executed, what: str) -> None:
    """Keep how long a notebook took, for the end of the test session's report (a figure to
    read, never a pass or fail; ``tests/conftest.py`` gathers them from every xdist worker)."""
    line = f"{what}: {executed.seconds:.1f} s, kernel start included"
    config.stash.setdefault(TIMINGS, []).append(line)


def cell(notebook: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    """The one code cell tagged ``tag``."""
    found = [
        c
        for c in notebook.cells
        if c.cell_type == "code" and tag in c.get("metadata", {}).get("tags", [])
    ]
    assert len(found) == 1, f"{len(found)} code cells tagged {tag!r}"
    return found[0]


def tables(code_cell: nbformat.NotebookNode) -> list[pd.DataFrame]:
    """The DataFrames a cell showed, in order, with their index as columns."""
    frames = []
    for output in code_cell.get("outputs", []):
        data = output.get("data", {})
        if TABLE in data:
            document = data[TABLE]
            if isinstance(document, str):
                document = json.loads(document)
            names = [field["name"] for field in document["schema"]["fields"]]
            frames.append(pd.DataFrame.from_records(document["data"], columns=names))
    return frames


def mimetypes(code_cell: nbformat.NotebookNode) -> set[str]:
    """Every mimetype among a cell's outputs."""
    return {kind for output in code_cell.get("outputs", []) for kind in output.get("data", {})}


def close(shown: Any, expected: Any) -> bool:
    """A number a table showed equals the API's, to the 10 decimal places pandas writes; an
    empty cell (None, NaN) equals only None."""
    if expected is None:
        return shown is None or (isinstance(shown, float) and math.isnan(shown))
    if shown is None:
        return False
    return math.isclose(float(shown), float(expected), rel_tol=1e-9, abs_tol=1e-10)


def committed_outputs(path: Path) -> list[str]:
    """What a committed notebook holds that only running it gives: outputs, execution counts,
    papermill's records. Empty when it is clean."""
    notebook = nbformat.read(path, as_version=4)
    found = []
    for number, c in enumerate(notebook.cells, start=1):
        name = f"cell {number} ({c.get('id', 'no id')})"
        if c.cell_type == "code" and c.get("outputs"):
            found.append(f"{name}: {len(c.outputs)} outputs")
        if c.cell_type == "code" and c.get("execution_count") is not None:
            found.append(f"{name}: execution count {c.execution_count}")
        if {"papermill", "execution"} & set(c.get("metadata", {})):
            found.append(f"{name}: execution metadata")
        if "injected-parameters" in c.get("metadata", {}).get("tags", []):
            found.append(f"{name}: parameters papermill injected")
    run = {"papermill", "widgets"} & set(notebook.metadata)
    found += [f"notebook metadata: {key}" for key in sorted(run)]
    return found


def phoenix_imports(path: Path) -> list[tuple[str, str | None]]:
    """Every ``(module, name)`` the notebook's code cells import from Phoenix's packages
    (``name`` None for ``import module``)."""
    notebook = nbformat.read(path, as_version=4)
    found: list[tuple[str, str | None]] = []
    for c in notebook.cells:
        if c.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(c.source)):
            if isinstance(node, ast.ImportFrom) and node.module:
                found += [(node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                found += [(alias.name, None) for alias in node.names]
    return [(module, name) for module, name in found if module.split(".")[0].startswith("phoenix")]


def failed_cells(output: Path) -> list[str]:
    """The tags of the code cells that ended in an error, in the executed notebook."""
    notebook = nbformat.read(output, as_version=4)
    return [
        tag
        for c in notebook.cells
        if c.cell_type == "code" and any(o.output_type == "error" for o in c.outputs)
        for tag in c.metadata.get("tags", [])
    ]
