"""A tiny exporter for tests: serves a set of series (an inventory) in exposition format,
fixed or replaced between scrapes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd

__all__ = ["Exporter", "changing_exporter", "exposition", "static_exporter"]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition(inventory: pd.DataFrame) -> str:
    """The inventory as Prometheus text: one line per series, its ``__value__`` as the sample."""
    labels = [c for c in inventory.columns if c not in ("__name__", "__value__")]
    lines = []
    for row in inventory.to_dict("records"):
        pairs = ",".join(
            f'{label}="{_escape(str(row[label]))}"'
            for label in labels
            if row[label] not in ("", None)
        )
        lines.append(f"{row['__name__']}{{{pairs}}} {float(row['__value__'])!r}")
    return "\n".join(lines) + "\n"


class Exporter:
    """A served inventory that a test may replace between scrapes (``serve``)."""

    def __init__(self, inventory: pd.DataFrame) -> None:
        self.address = ""
        self.serve(inventory)

    def serve(self, inventory: pd.DataFrame) -> None:
        """Answer every scrape from now on with ``inventory``."""
        self.body = exposition(inventory).encode()


@contextmanager
def changing_exporter(inventory: pd.DataFrame) -> Iterator[Exporter]:
    """Serve ``inventory`` on a free loopback port until told another (``Exporter.serve``)."""
    exporter = Exporter(inventory)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exporter.body
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    exporter.address = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield exporter
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def static_exporter(inventory: pd.DataFrame) -> Iterator[str]:
    """Serve ``inventory`` on a free loopback port; yields ``host:port``."""
    with changing_exporter(inventory) as exporter:
        yield exporter.address
