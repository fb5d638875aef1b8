"""Phoenix core library: domain model, store, queue, pipelines and analysis.

This package's top level stays light (no pandas, SQLAlchemy or Panel at import time) so that
``phoenix_core.wire`` can be imported by agents that have only the base dependencies.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("phoenix-pipelines")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
