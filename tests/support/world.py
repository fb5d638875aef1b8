"""A real control plane, agent and receiver for end-to-end experiments: ``phoenix api serve``
(its controller in it) on a given database, ``phoenix-agent run`` enrolled as ``web-1``, a
receiving Prometheus, and an exporter serving a given series set (which a test may change)."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil

from phoenix_api.cli.demo import free_port_range
from phoenix_core.store.database import make_engine
from phoenix_core.wire.labels import IDENTITY_LABELS, matchers
from support.exporter import Exporter, exporter
from support.postgres import free_port
from support.processes import agent_process, api_server, kill_processes_in, run_cli
from support.prometheus import PrometheusServer, prometheus_server
from support.waiting import until as _until

__all__ = ["World", "until"]

until = functools.partial(_until, timeout=60)  # deploys start real processes: a minute each


class World:
    def __init__(
        self,
        stack: ExitStack,
        postgres_url: str,
        tmp_path: Path,
        series: pd.DataFrame,
        *,
        agent_env: dict[str, str] | None = None,
        api_env: dict[str, str] | None = None,
        scrape_interval_seconds: float = 1,
        api_port: int | None = None,
        scrape_job: str | None = None,
    ) -> None:
        """``scrape_job``: the receiving Prometheus also scrapes the exporter under this job, as
        a production Prometheus would (what the store holds besides the experiments')."""
        self.agent_env = agent_env or {}
        self.collector = "prometheus-agent"
        start = free_port_range(21)
        self.env = {
            "PHOENIX_DATABASE_URL": postgres_url,
            "PHOENIX_LOG_LEVEL": "warning",
            "PHOENIX_CONTROLLER_INTERVAL_SECONDS": "0.2",
            "PHOENIX_CONTROLLER_SCRAPE_INTERVAL_SECONDS": str(scrape_interval_seconds),
            "PHOENIX_CONTROLLER_PORT_RANGE_START": str(start),
            "PHOENIX_CONTROLLER_PORT_RANGE_END": str(start + 20),
        } | (api_env or {})
        self.source: Exporter = stack.enter_context(exporter(series))
        """What the exporter serves; ``self.source.serve(...)`` changes it."""
        self.exporter = self.source.address
        scrape = {scrape_job: self.exporter} if scrape_job else None
        self.prometheus: PrometheusServer = stack.enter_context(prometheus_server(scrape=scrape))
        # the baseline's latest values, for the candidates' keep-lists, come from there too
        self.env["PHOENIX_CONTROLLER_PROMETHEUS_URL"] = self.prometheus.url
        self.engine = make_engine(postgres_url)
        stack.callback(self.engine.dispose)
        self.state = tmp_path / "agent-state"
        self.agent_log = tmp_path / "agent.log"
        operator = self.cli("token", "create", "olga", "--role", "operator")
        enrolment = self.cli("enrolment-token", "create", "rack")
        self.api_port = api_port or free_port()
        self.url, self.api = stack.enter_context(api_server(self.env, port=self.api_port))
        self.operator = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {operator}"}, timeout=30
        )
        stack.callback(self.operator.close)
        self.enrolment = enrolment
        self.agent = stack.enter_context(self.run_agent())
        stack.callback(kill_processes_in, self.state)  # a drained agent leaves them running

    def cli(self, *args: str) -> str:
        result = run_cli("phoenix", list(args), self.env)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    @contextmanager
    def run_agent(self) -> Iterator[subprocess.Popen[str]]:
        env = {
            "PHOENIX_AGENT_API_URL": self.url,
            "PHOENIX_AGENT_ENROLMENT_TOKEN": self.enrolment,
            "PHOENIX_AGENT_STATE_DIR": str(self.state),
            "PHOENIX_AGENT_HOSTNAME": "web-1",
            "PHOENIX_AGENT_HEARTBEAT_SECONDS": "0.5",
            "PHOENIX_AGENT_POLL_WAIT_SECONDS": "5",
            "PHOENIX_AGENT_RESTART_BACKOFF_SECONDS": "0.2",
            "PHOENIX_AGENT_CRASH_LOOP_AFTER": "3",
            "PHOENIX_AGENT_METRICS_SECONDS": "0.5",
        } | self.agent_env
        with agent_process(env, self.agent_log) as process:
            yield process

    def collectors(self) -> dict[str, psutil.Process]:
        """The collector processes this agent started, by variant (from their config path)."""
        found = {}
        for process in psutil.process_iter(["cmdline"]):
            for arg in process.info["cmdline"] or []:
                if arg.startswith("--config.file=") and str(self.state) in arg:
                    found[Path(arg.split("=", 1)[1]).parent.name] = process
        return found

    def start_experiment(self, **changes: Any) -> str:
        until(lambda: self.operator.get("/api/v1/hosts").json(), "the agent enrolled")
        spec = {
            "name": "two variants on one host",
            "variants": [
                {"name": "baseline", "role": "baseline", "template": "baseline"},
                {"name": "twin", "role": "candidate", "template": "baseline"},
            ],
            "collector": "prometheus-agent",
            "hosts": ["web-1"],
            "sources": [{"name": "app", "kind": "scrape", "address": self.exporter}],
            "sink": {"url": self.prometheus.remote_write_url},
            "warmup_seconds": 1,
            "duration_seconds": 3600,
        } | changes
        created = self.operator.post("/api/v1/experiments", json=spec)
        assert created.status_code == 201, created.text
        experiment: str = created.json()["id"]
        assert self.operator.post(f"/api/v1/experiments/{experiment}/start").status_code == 202
        return experiment

    def arrived(
        self, experiment: str, variant: str, names: str, job: str = ".+"
    ) -> set[frozenset[Any]]:
        """The series of a variant the test Prometheus received, without the added labels."""
        match = f'{{__name__=~"{names}",job=~"{job}",{matchers(experiment, variant)}}}'
        drop = {*IDENTITY_LABELS, "job", "instance"}
        return {
            frozenset((k, v) for k, v in s.items() if k not in drop)
            for s in self.prometheus.series(match)
        }

    def wait_started(self, experiment: str) -> None:
        """Until every variant runs; on a timeout, say what the experiment, the queue and the
        agent said."""
        try:
            until(lambda: self.state_of(experiment) in ("warming_up", "running"), "started")
        except AssertionError as exc:
            record = self.operator.get(f"/api/v1/experiments/{experiment}").json()
            tasks = self.operator.get("/api/v1/tasks/stats").json()
            log = self.agent_log.read_text()[-3000:]
            raise AssertionError(
                f"{exc}: {record['state']} ({record['failure_reason']}); tasks {tasks}; "
                f"agent log: {log}"
            ) from exc

    def state_of(self, experiment: str) -> str:
        return str(self.operator.get(f"/api/v1/experiments/{experiment}").json()["state"])

    def stop(self, experiment: str) -> None:
        """Stop the experiment through the API; wait until it is stopped and no collector of
        this agent runs any more."""
        assert self.operator.post(f"/api/v1/experiments/{experiment}/stop").status_code == 202
        until(lambda: self.state_of(experiment) == "stopped", "the experiment stopped")
        until(lambda: not self.collectors(), "every collector is gone")
