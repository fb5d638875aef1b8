"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.prometheus import PrometheusServer, prometheus_server


@pytest.fixture(scope="session")
def receiver() -> Iterator[PrometheusServer]:
    """A receiving Prometheus for tests that start experiments but read nothing it receives:
    what a start checks (the sink accepts remote writes, Phoenix's Prometheus answers). One for
    the session; a test that reads what a collector wrote starts its own."""
    with prometheus_server() as server:
        yield server
