"""Fixtures of the notebook tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from support.analysed import Analysed, analysed_experiment


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Analysed]:
    """A real Phoenix with one experiment it ran and analysed (``support.analysed``), once a
    module: about a minute."""
    with ExitStack() as stack:
        yield analysed_experiment(stack, tmp_path_factory.mktemp("phoenix"))
