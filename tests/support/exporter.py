"""A tiny exporter for tests: serves a set of series (an inventory, or exposition text as
given), which the test may change between scrapes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd

__all__ = ["Exporter", "exporter", "exposition", "static_exporter"]


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
    """What a running exporter serves, at ``address`` (``host:port``)."""

    def __init__(self, address: str, body: bytes) -> None:
        self.address = address
        self.body = body

    def serve(self, series: pd.DataFrame | str) -> None:
        """Serve ``series`` (an inventory, or exposition text as it is) from the next scrape."""
        text = series if isinstance(series, str) else exposition(series)
        self.body = text.encode()


@contextmanager
def exporter(series: pd.DataFrame | str) -> Iterator[Exporter]:
    """Serve ``series`` on a free loopback port until the end of the block."""
    served = Exporter("", b"")
    served.serve(series)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = served.body
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.address = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def static_exporter(inventory: pd.DataFrame) -> Iterator[str]:
    """Serve ``inventory`` on a free loopback port; yields ``host:port``."""
    with exporter(inventory) as served:
        yield served.address
