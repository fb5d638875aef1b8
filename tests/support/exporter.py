"""A tiny exporter for tests: serves a fixed set of series (an inventory) in exposition format."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd

__all__ = ["exposition", "static_exporter"]


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


@contextmanager
def static_exporter(inventory: pd.DataFrame) -> Iterator[str]:
    """Serve ``inventory`` on a free loopback port; yields ``host:port``."""
    body = exposition(inventory).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
