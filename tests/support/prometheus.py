"""Real Prometheus processes for tests: a server that receives remote writes, agents that send.

Each runs on a free loopback port with its data in a temporary folder, and is stopped by the
context manager that started it (agents before the server they write to, or each waits a minute
on its flush deadline).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from support.postgres import free_port
from support.processes import stop_process

__all__ = ["PrometheusServer", "prometheus_agent", "prometheus_server", "pushgateway"]

BINARY = shutil.which("prometheus") or "/usr/bin/prometheus"


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]

    @property
    def remote_write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def series(self, match: str) -> list[dict[str, str]]:
        response = httpx.get(f"{self.url}/api/v1/series", params={"match[]": match}, timeout=10)
        response.raise_for_status()
        return list(response.json()["data"])

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """An instant query now: each series' labels and value."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        response.raise_for_status()
        return [(r["metric"], float(r["value"][1])) for r in response.json()["data"]["result"]]


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"prometheus at {url} not ready: {log.read_text()[-2000:]}")


@contextmanager
def _running(
    args: list[str], folder: Path, port: int, binary: str = BINARY
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    log = folder / "log"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, *args, f"--web.listen-address=127.0.0.1:{port}"], stdout=out, stderr=out
        )
    try:
        _wait_ready(url, process, log)
        yield url, process
    finally:
        stop_process(process)


@contextmanager
def prometheus_server(
    *, remote_write_receiver: bool = True, scrape: dict[str, str] | None = None
) -> Iterator[PrometheusServer]:
    """A Prometheus server (scraping every second the ``{job: "host:port"}`` in ``scrape``,
    if any) with (unless told not to) the remote-write receiver."""
    folder = Path(tempfile.mkdtemp(prefix="phoenix-prom-"))
    config = folder / "prometheus.yml"
    jobs = [
        {"job_name": job, "static_configs": [{"targets": [target]}]}
        for job, target in (scrape or {}).items()
    ]
    config.write_text(
        json.dumps({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}) + "\n"
    )
    args = [f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}"]
    if remote_write_receiver:
        args.append("--web.enable-remote-write-receiver")
    try:
        with _running(args, folder, free_port()) as (url, process):
            yield PrometheusServer(url=url, process=process)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def prometheus_agent(config_text: str, port: int) -> Iterator[str]:
    """Prometheus in agent mode with ``config_text``, listening on ``port``; yields its URL."""
    folder = Path(tempfile.mkdtemp(prefix="phoenix-agent-"))
    config = folder / "agent.yml"
    config.write_text(config_text)
    args = [
        "--enable-feature=agent",
        f"--config.file={config}",
        f"--storage.agent.path={folder / 'wal'}",
    ]
    try:
        with _running(args, folder, port) as (url, _):
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def pushgateway() -> Iterator[str]:
    """The Prometheus Pushgateway (Debian's ``prometheus-pushgateway``); yields its URL."""
    folder = Path(tempfile.mkdtemp(prefix="phoenix-pushgateway-"))
    binary = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"
    try:
        with _running([], folder, free_port(), binary) as (url, _):
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)
