"""The agent's supervisor with real Prometheus processes (no API): configs are verified and
substituted before anything starts; a collector that does not come up fails its task with
its own words and leaves nothing running; a reload is taken in place by the running process
(Prometheus and the OpenTelemetry Collector), a repeated one changes nothing, and one the
collector refuses leaves it on the last good config; stop ends the process group."""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from phoenix_agent import supervisor as supervisor_module
from phoenix_agent.failures import TaskFailed
from phoenix_agent.held import TaskControl
from phoenix_agent.supervisor import Supervisor, SupervisorSettings, substitute
from phoenix_core.pipelines.compiler import CompileContext, ScrapeTarget
from phoenix_core.pipelines.otelcol import compile_otelcol
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.wire import ActivePipelineStatus
from phoenix_core.wire.tasks import CollectorKind
from support.otelcol import collector_binary
from support.postgres import free_port

GOOD = "global: {scrape_interval: 1s}\nscrape_configs: []\n"
BETTER = "global: {scrape_interval: 2s}\nscrape_configs: []\n"
BAD = "global: {scrape_interval: nonsense}\n"
EXPERIMENT = uuid.UUID(int=7)


def _payload(text: str, *, port: int, variant: str = "baseline") -> dict[str, object]:
    return {
        "experiment_id": str(EXPERIMENT),
        "variant": variant,
        "collector": "prometheus-agent",
        "config_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "config_url": f"/agent/v1/configs/{hashlib.sha256(text.encode()).hexdigest()}",
        "ports": {"http": port},
    }


SERVED: dict[str, str] = {}
"""What the fake control plane serves, by SHA-256 (the supervisor downloads from it)."""


def _served(url: str, control: TaskControl) -> str:
    return SERVED[url.rsplit("/", 1)[1]]


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    SERVED.clear()
    settings = SupervisorSettings(
        state_dir=tmp_path,
        hostname="web-1",
        binaries={CollectorKind.PROMETHEUS_AGENT: "prometheus"},
        apply_timeout_seconds=20,
    )
    supervisor = Supervisor(settings, fetch_config=_served)
    yield supervisor
    supervisor.stop_all(grace_seconds=5)


def _serve(text: str) -> None:
    SERVED[hashlib.sha256(text.encode()).hexdigest()] = text


def _ours(tmp_path: Path) -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if any(str(tmp_path) in arg for arg in p.info["cmdline"] or [])
    ]


def test_substitution_knows_its_values_and_names_the_unknown() -> None:
    values = {"data_dir": "/var/lib/x", "hostname": "web-1"}
    text = "dir: %%phoenix:data_dir%%\nrelabel: ${1}\nenv: ${env:HOME}\n"
    assert substitute(text, values) == "dir: /var/lib/x\nrelabel: ${1}\nenv: ${env:HOME}\n"
    with pytest.raises(TaskFailed, match=r"%%phoenix:secret_key%%"):
        substitute("key: %%phoenix:secret_key%%", values)


def test_start_health_gate_and_stop(supervisor: Supervisor, tmp_path: Path) -> None:
    _serve(GOOD)
    port = free_port()
    result = supervisor.start(_payload(GOOD, port=port), TaskControl())
    assert httpx.get(f"http://127.0.0.1:{port}/-/ready").status_code == 200
    (report,) = supervisor.reports()
    assert (report.status, report.pid) == (ActivePipelineStatus.RUNNING, result["pid"])
    again = supervisor.start(_payload(GOOD, port=port), TaskControl())
    assert again == {"pid": result["pid"], "already_running": True}  # a repeat starts nothing
    stop = {"experiment_id": str(EXPERIMENT), "variant": "baseline", "grace_seconds": 5}
    assert supervisor.stop(stop, TaskControl()) == {"stopped": True}
    assert (
        not psutil.pid_exists(result["pid"]) or psutil.Process(result["pid"]).status() == "zombie"
    )
    assert supervisor.stop(stop, TaskControl()) == {"stopped": False}
    assert _ours(tmp_path) == []


def test_a_config_that_does_not_match_its_hash_is_refused(supervisor: Supervisor) -> None:
    payload = _payload(GOOD, port=free_port())
    SERVED[str(payload["config_sha256"])] = GOOD + "# changed\n"
    with pytest.raises(TaskFailed, match="has SHA-256"):
        supervisor.start(payload, TaskControl())
    assert supervisor.reports() == []


def test_a_collector_that_cannot_start_fails_with_its_own_words(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    _serve(BAD)
    with pytest.raises(TaskFailed, match="exited with status") as failed:
        supervisor.start(_payload(BAD, port=free_port()), TaskControl())
    assert "nonsense" in str(failed.value)  # Prometheus' own complaint, from its log
    assert supervisor.reports() == []
    assert _ours(tmp_path) == []


def test_a_reload_is_taken_in_place_or_refused_on_the_last_good_config(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    for text in (GOOD, BETTER, BAD):
        _serve(text)
    port = free_port()
    pid = supervisor.start(_payload(GOOD, port=port), TaskControl())["pid"]

    def running() -> str:
        return str(httpx.get(f"http://127.0.0.1:{port}/api/v1/status/config").json()["data"])

    assert "scrape_interval: 1s" in running()
    result = supervisor.reload(_payload(BETTER, port=port), TaskControl())
    assert result == {"pid": pid, "config_sha256": _sha(BETTER), "in_place": True}
    assert "scrape_interval: 2s" in running()  # the same process runs the new config
    (report,) = supervisor.reports()
    assert (report.pid, report.config_sha256) == (pid, _sha(BETTER))
    # the same config again (a retried task): nothing to do
    again = supervisor.reload(_payload(BETTER, port=port), TaskControl())
    assert again == {"pid": pid, "unchanged": True}
    # a config Prometheus refuses: it keeps running the last good one, and so does its file
    with pytest.raises(TaskFailed, match=r"nonsense.*still running the last good config"):
        supervisor.reload(_payload(BAD, port=port), TaskControl())
    (report,) = supervisor.reports()
    assert (report.status, report.pid) == (ActivePipelineStatus.RUNNING, pid)
    assert report.config_sha256 == _sha(BETTER)
    assert "scrape_interval: 2s" in running()
    config = tmp_path / "collectors" / str(EXPERIMENT) / "baseline" / "config.yml"
    assert config.read_text() == BETTER
    assert [p.pid for p in _ours(tmp_path)] == [pid]


def test_a_collector_that_cannot_reload_in_place_is_restarted_on_the_new_config(
    supervisor: Supervisor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Prometheus agent an earlier agent version started without the lifecycle API (and this
    one adopted) takes a reload by a restart through the health gate, and goes back to the last
    good config when the new one does not come up."""
    for text in (GOOD, BETTER, BAD):
        _serve(text)
    port = free_port()
    command = supervisor_module._command
    monkeypatch.setattr(
        supervisor_module,
        "_command",
        lambda *args: [a for a in command(*args) if a != "--web.enable-lifecycle"],
    )
    first = supervisor.start(_payload(GOOD, port=port), TaskControl())["pid"]
    second = supervisor.reload(_payload(BETTER, port=port), TaskControl())["pid"]
    assert second != first and not psutil.pid_exists(first)
    with pytest.raises(TaskFailed, match="back on the last good config"):
        supervisor.reload(_payload(BAD, port=port), TaskControl())
    (report,) = supervisor.reports()
    assert report.status is ActivePipelineStatus.RUNNING
    assert report.config_sha256 == _sha(BETTER)
    assert httpx.get(f"http://127.0.0.1:{port}/-/ready").status_code == 200
    assert len(_ours(tmp_path)) == 1


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_port_outside_the_hosts_range_is_refused(tmp_path: Path) -> None:
    _serve(GOOD)
    settings = SupervisorSettings(
        state_dir=tmp_path,
        hostname="web-1",
        binaries={CollectorKind.PROMETHEUS_AGENT: "prometheus"},
        ports=range(20_000, 20_010),
    )
    supervisor = Supervisor(settings, fetch_config=_served)
    with pytest.raises(
        TaskFailed, match=r"\{'http': 31000\} outside this host's range 20000-20009"
    ):
        supervisor.start(_payload(GOOD, port=31_000), TaskControl())
    assert supervisor.reports() == [] and _ours(tmp_path) == []


def test_an_otelcol_collector_is_gated_on_its_health_check_and_reloads_in_place(
    tmp_path: Path,
) -> None:
    """The otelcol driver runs the collector Phoenix builds: started, healthy through its
    health_check extension; a new config taken in place (SIGHUP: the same process, its
    pipelines built anew); one the collector refuses left aside before it is applied; stopped
    with nothing left."""
    health, telemetry = free_port(), free_port()
    context = CompileContext(
        experiment_id="exp-1",
        variant="baseline",
        host="web-1",
        targets=[ScrapeTarget("node", f"127.0.0.1:{free_port()}")],  # nobody there: no matter
        remote_write_url=f"http://127.0.0.1:{free_port()}/api/v1/write",
        ports={"health": health, "telemetry": telemetry},
    )
    library = TemplateLibrary.builtin()
    text = compile_otelcol(library.get("baseline").render(), context).text
    newer = compile_otelcol(library.get("drop-labels").render(), context).text
    refused = newer.replace("timeout: 5s", "timeout: nonsense")
    assert refused != newer
    for served in (text, newer, refused):
        _serve(served)
    settings = SupervisorSettings(
        state_dir=tmp_path,
        hostname="web-1",
        binaries={CollectorKind.OTELCOL: str(collector_binary())},
        apply_timeout_seconds=30,
    )
    supervisor = Supervisor(settings, fetch_config=_served)
    payload = {
        **_payload(text, port=0),
        "collector": "otelcol",
        "ports": {"health": health, "telemetry": telemetry},
    }
    try:
        result = supervisor.start(payload, TaskControl())
        up = httpx.get(f"http://127.0.0.1:{health}/")
        assert up.status_code == 200
        (report,) = supervisor.reports()
        assert (report.status, report.pid) == (ActivePipelineStatus.RUNNING, result["pid"])
        reloaded = supervisor.reload(
            {**payload, "config_sha256": _sha(newer), "config_url": f"/c/{_sha(newer)}"},
            TaskControl(),
        )
        assert reloaded == {"pid": result["pid"], "config_sha256": _sha(newer), "in_place": True}
        again = httpx.get(f"http://127.0.0.1:{health}/").json()
        assert again["upSince"] != up.json()["upSince"]  # its pipelines started anew
        with pytest.raises(TaskFailed, match=r"invalid duration.*still running the last good"):
            supervisor.reload(
                {**payload, "config_sha256": _sha(refused), "config_url": f"/c/{_sha(refused)}"},
                TaskControl(),
            )
        (report,) = supervisor.reports()
        assert (report.pid, report.config_sha256) == (result["pid"], _sha(newer))
        assert httpx.get(f"http://127.0.0.1:{health}/").json()["upSince"] == again["upSince"]
        # valid, but it cannot run (its health check's port is taken): the collector exits on
        # it, and is started again on the last good config
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            broken = newer.replace(f"127.0.0.1:{health}", f"127.0.0.1:{taken.getsockname()[1]}")
            _serve(broken)
            with pytest.raises(TaskFailed, match=r"exited while reloading.*started again"):
                supervisor.reload(
                    {**payload, "config_sha256": _sha(broken), "config_url": f"/c/{_sha(broken)}"},
                    TaskControl(),
                )
        (report,) = supervisor.reports()
        assert report.pid != result["pid"] and report.config_sha256 == _sha(newer)
        assert report.status is ActivePipelineStatus.RUNNING and report.restarts == 1
        assert httpx.get(f"http://127.0.0.1:{health}/").status_code == 200
    finally:
        supervisor.stop_all(grace_seconds=5)
    assert _ours(tmp_path) == []
