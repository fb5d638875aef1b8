"""A TCP forwarder between an agent and the API, for faults at a precise moment: once armed, the
first request that starts with a given prefix runs a hook (e.g. stop the API) and is dropped
unanswered, as a connection reset. Connections the API refuses are closed at once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

__all__ = ["Proxy", "tcp_proxy"]


class Proxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.tripped = threading.Event()
        self._prefix: bytes | None = None
        self._hook: Callable[[], None] = lambda: None
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def arm(self, prefix: bytes, hook: Callable[[], None]) -> None:
        """Drop the next request starting with ``prefix`` after running ``hook``."""
        with self._lock:
            self._prefix, self._hook = prefix, hook

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:
            client.close()  # the API is down: the agent sees the connection closed
            return
        upstream.settimeout(None)
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream, watch=True)

    def _pump(self, source: socket.socket, sink: socket.socket, *, watch: bool = False) -> None:
        try:
            while chunk := source.recv(65536):
                if watch and self._trips(chunk):
                    return
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def _trips(self, chunk: bytes) -> bool:
        with self._lock:
            if self._prefix is None or not chunk.startswith(self._prefix):
                return False
            self._prefix = None
            hook = self._hook
        hook()
        self.tripped.set()
        return True


@contextmanager
def tcp_proxy(target_port: int) -> Iterator[Proxy]:
    proxy = Proxy(target_port)
    try:
        yield proxy
    finally:
        proxy.close()
