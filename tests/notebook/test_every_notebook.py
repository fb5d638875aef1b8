"""What holds for every notebook in ``notebooks/``, without running one: it is committed
without outputs, it has one parameters cell, it imports only ``phoenix_core``'s public names,
and the kernel the tests run it on is this venv's Python."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import nbformat
import pytest

from support.notebooks import committed, committed_outputs, kernel_problem, phoenix_imports

NOTEBOOKS = committed()


def test_the_notebooks_are_found() -> None:
    assert "cost-analysis.ipynb" in [path.name for path in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_a_notebook_is_committed_without_outputs(path: Path) -> None:
    """Outputs hold a run's data (and a token papermill injected): clear them before a commit
    (Jupyter: Edit → Clear Outputs of All Cells)."""
    assert committed_outputs(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_a_notebook_is_valid_and_its_first_code_cell_holds_its_parameters(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in notebook.cells if c.cell_type == "code"]
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert tagged == code[:1], "one cell tagged parameters, the first code cell"
    for statement in ast.parse(tagged[0].source).body:  # plain values papermill can override
        assert isinstance(statement, ast.Assign), ast.unparse(statement)
        ast.literal_eval(statement.value)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_a_notebook_imports_only_public_names_of_phoenix_core(path: Path) -> None:
    imports = phoenix_imports(path)
    assert imports, "a notebook on Phoenix uses phoenix_core"
    for module, name in imports:
        assert module.split(".")[0] == "phoenix_core", f"{module}: only phoenix_core"
        assert not any(part.startswith("_") for part in module.split(".")), module
        public = getattr(importlib.import_module(module), "__all__", [])
        assert name is None or name in public, f"{name} is not in {module}.__all__"


def test_the_kernel_is_this_venvs_python() -> None:
    assert kernel_problem() is None
