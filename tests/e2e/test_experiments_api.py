"""Experiments through the REST API of a real ``phoenix api serve`` (SQLite, with its embedded
controller): create, read, edit with If-Match, delete, start, stop, audit trail, roles."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.control_plane import cli_token, online_host, receiving_at
from support.processes import api_server, run_cli
from support.prometheus import PrometheusServer, prometheus_server
from support.specs import NO_LOAD, spec_data


class Api:
    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.url, self.tokens = url, tokens
        self.host_token = ""

    def as_(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=30
        )


@pytest.fixture
def api(tmp_path: Path, receiver: PrometheusServer) -> Iterator[Api]:
    env = {
        "PHOENIX_DATA_DIR": str(tmp_path),
        "PHOENIX_CONTROLLER_INTERVAL_SECONDS": "0.2",
        **receiving_at(receiver),
    }
    tokens = {
        "viewer": cli_token(env, "token", "create", "vera", "--role", "viewer"),
        "operator": cli_token(env, "token", "create", "olga", "--role", "operator"),
        "enrol": cli_token(env, "enrolment-token", "create", "rack-1"),
    }
    with api_server(env) as (url, _):
        api = Api(url, tokens)
        api.host_token = online_host(url, tokens["enrol"])
        yield api


def _spec(**overrides: Any) -> dict[str, Any]:
    sink = {"kind": "prometheus-remote-write"}  # the controller's remote_write_url
    data = spec_data(hosts=["web-1"], host_selector=None, sink=sink, **NO_LOAD)
    data |= overrides
    data["variants"] = [
        {"name": "baseline", "role": "baseline", "template": "baseline"},
        {
            "name": "slim",
            "role": "candidate",
            "template": "drop-labels",
            "variables": {"labels": ["pid"]},
        },
    ]
    return data


def test_create_read_edit_delete(api: Api) -> None:
    with api.as_("operator") as operator, api.as_("viewer") as viewer:
        created = operator.post("/api/v1/experiments", json=_spec())
        assert created.status_code == 201, created.text
        experiment = created.json()
        assert created.headers["location"] == f"/api/v1/experiments/{experiment['id']}"
        assert experiment["state"] == "draft"
        assert experiment["created_by"] == "user:olga"
        got = viewer.get(f"/api/v1/experiments/{experiment['id']}")
        assert got.json()["spec"] == experiment["spec"]
        etag = got.headers["etag"]
        renamed = _spec(name="renamed")
        assert (
            operator.put(f"/api/v1/experiments/{experiment['id']}", json=renamed).status_code == 422
        )
        updated = operator.put(
            f"/api/v1/experiments/{experiment['id']}", json=renamed, headers={"If-Match": etag}
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["spec"]["name"] == "renamed"
        stale = operator.put(
            f"/api/v1/experiments/{experiment['id']}", json=renamed, headers={"If-Match": etag}
        )
        assert stale.status_code == 412
        assert "reload it and apply the change again" in stale.json()["detail"]
        assert viewer.post("/api/v1/experiments", json=_spec()).status_code == 403
        assert operator.delete(f"/api/v1/experiments/{experiment['id']}").status_code == 204
        assert viewer.get(f"/api/v1/experiments/{experiment['id']}").status_code == 404
        trail = viewer.get(f"/api/v1/experiments/{experiment['id']}/events").json()["items"]
        assert [e["type"] for e in trail] == [
            "experiment_created",
            "experiment_updated",
            "experiment_deleted",
        ]


def test_bad_specs_name_the_field(api: Api) -> None:
    with api.as_("operator") as operator:
        response = operator.post("/api/v1/experiments", json=_spec(duration_seconds=0, extra=1))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    locations = {tuple(e["loc"]) for e in response.json()["errors"]}
    assert ("body", "duration_seconds") in locations
    assert ("body", "extra") in locations


def test_list_pages_newest_first(api: Api) -> None:
    with api.as_("operator") as operator:
        ids = [
            operator.post("/api/v1/experiments", json=_spec(name=f"e{i}")).json()["id"]
            for i in range(5)
        ]
        first = operator.get("/api/v1/experiments", params={"limit": 3}).json()
        second = operator.get(
            "/api/v1/experiments", params={"limit": 3, "cursor": first["next_cursor"]}
        ).json()
        drafts = operator.get("/api/v1/experiments", params={"state": "draft"}).json()
        bad = operator.get("/api/v1/experiments", params={"cursor": "nonsense"})
    assert [e["id"] for e in first["items"] + second["items"]] == ids[::-1]
    newest = first["items"][0]
    assert (newest["name"], newest["variants"], newest["state"]) == (
        "e4",
        ["baseline", "slim"],
        "draft",
    )
    assert "spec" not in newest  # a summary; GET /api/v1/experiments/{id} has the whole record
    assert second["next_cursor"] is None
    assert len(drafts["items"]) == 5
    assert bad.status_code == 422


def test_start_and_stop_through_the_controller(api: Api) -> None:
    with api.as_("operator") as operator, api.as_("viewer") as viewer:
        experiment = operator.post("/api/v1/experiments", json=_spec()).json()
        started = operator.post(f"/api/v1/experiments/{experiment['id']}/start")
        assert started.status_code == 202, started.text
        assert started.json()["state"] == "scheduled"
        _until(
            lambda: (
                viewer.get(f"/api/v1/experiments/{experiment['id']}").json()["state"] == "deploying"
            )
        )
        assert viewer.get(f"/api/v1/experiments/{experiment['id']}/kpis").status_code == 409
        # the baseline's start is queued for the host (the candidate waits for its values)
        _until(lambda: viewer.get("/api/v1/tasks/stats").json()["depth"]["pending"] == 1)
        stopped = operator.post(f"/api/v1/experiments/{experiment['id']}/stop")
        assert stopped.json()["state"] == "stopping"
        again = operator.post(f"/api/v1/experiments/{experiment['id']}/start")
        assert again.status_code == 409
        trail = viewer.get(f"/api/v1/experiments/{experiment['id']}/events").json()["items"]
        actors = [
            (e["data"].get("to"), e["actor"].split("@")[0])
            for e in trail
            if e["type"] == "experiment_state_changed"
        ]
        assert actors[:3] == [
            ("scheduled", "user:olga"),
            ("deploying", "controller"),
            ("stopping", "user:olga"),
        ]
        # the start is cancelled and a stop is queued instead
        _until(lambda: viewer.get("/api/v1/tasks/stats").json()["depth"]["cancelled"] == 1)
        assert viewer.get("/api/v1/tasks/stats").json()["depth"]["pending"] == 1
        hosts = viewer.get("/api/v1/hosts").json()
        assert [h["hostname"] for h in hosts] == ["web-1"]
        assert viewer.post(f"/api/v1/hosts/{hosts[0]['id']}/decommission").status_code == 403


def test_a_start_is_refused_when_the_sink_refuses_remote_writes(api: Api) -> None:
    # a Prometheus started without --web.enable-remote-write-receiver answers writes with 404
    with prometheus_server(remote_write_receiver=False) as plain, api.as_("operator") as operator:
        sink = {"kind": "prometheus-remote-write", "url": plain.remote_write_url}
        experiment = operator.post("/api/v1/experiments", json=_spec(sink=sink)).json()
        refused = operator.post(f"/api/v1/experiments/{experiment['id']}/start")
        assert refused.status_code == 422, refused.text
        (error,) = refused.json()["errors"]
        assert error["loc"] == ["sink", "url"]
        assert "refused a remote write: HTTP 404" in error["msg"]
        assert "--web.enable-remote-write-receiver" in error["msg"]
        after = operator.get(f"/api/v1/experiments/{experiment['id']}").json()
        assert after["state"] == "draft"  # nothing scheduled, nothing half-done
        nobody = {"kind": "prometheus-remote-write", "url": "http://127.0.0.1:9/api/v1/write"}
        unreachable = operator.post("/api/v1/experiments", json=_spec(sink=nobody)).json()
        refused = operator.post(f"/api/v1/experiments/{unreachable['id']}/start")
        assert refused.status_code == 422
        assert "cannot reach http://127.0.0.1:9/api/v1/write" in refused.json()["errors"][0]["msg"]


def test_a_start_is_refused_when_phoenix_cannot_read_its_prometheus(
    tmp_path: Path, receiver: PrometheusServer
) -> None:
    env = {
        "PHOENIX_DATA_DIR": str(tmp_path),
        "PHOENIX_RUN_CONTROLLER": "false",
        **receiving_at(receiver),
        "PHOENIX_CONTROLLER_PROMETHEUS_URL": "http://127.0.0.1:9",  # nothing listens there
    }
    operator = cli_token(env, "token", "create", "olga", "--role", "operator")
    enrol = cli_token(env, "enrolment-token", "create", "rack-1")
    with api_server(env) as (url, _):
        online_host(url, enrol)
        auth = {"Authorization": f"Bearer {operator}"}
        with httpx.Client(base_url=url, headers=auth, timeout=30) as client:
            experiment = client.post("/api/v1/experiments", json=_spec()).json()
            refused = client.post(f"/api/v1/experiments/{experiment['id']}/start")
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert "http://127.0.0.1:9" in detail and "PHOENIX_CONTROLLER_PROMETHEUS_URL" in detail


def _until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_the_cli_drives_experiments_through_the_api(api: Api, tmp_path: Path) -> None:
    import json

    import yaml

    env = {"PHOENIX_API_URL": api.url, "PHOENIX_TOKEN": api.tokens["operator"]}
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(_spec(name="from the cli")))
    created = run_cli("phoenix", ["experiment", "create", str(spec_file), "--output", "json"], env)
    assert created.returncode == 0, created.stderr
    experiment = json.loads(created.stdout)  # the record, an object
    listed = run_cli("phoenix", ["experiment", "list"], env)
    assert experiment["id"] in listed.stdout and "from the cli" in listed.stdout
    planned = run_cli(
        "phoenix", ["experiment", "dry-run", experiment["id"], "--output", "json"], env
    )
    assert [p["variant"] for p in json.loads(planned.stdout)["plans"]] == ["baseline", "slim"]
    started = run_cli("phoenix", ["experiment", "start", experiment["id"]], env)
    assert started.stdout.strip() == f"Experiment {experiment['id']} is scheduled."
    hosts = json.loads(run_cli("phoenix", ["host", "list", "--output", "json"], env).stdout)
    assert [h["hostname"] for h in hosts] == ["web-1"]
    refused = run_cli("phoenix", ["host", "decommission", hosts[0]["id"]], env)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "Error: This needs the role 'admin'; the token has 'operator'."
    bad = run_cli("phoenix", ["experiment", "list"], {**env, "PHOENIX_TOKEN": "phx_u_" + "x" * 43})
    assert bad.stderr.strip() == "Error: The token is not known (PHOENIX_TOKEN)."
    spec_file.write_text(yaml.safe_dump(_spec(duration_seconds=-1)))
    invalid = run_cli("phoenix", ["experiment", "create", str(spec_file)], env)
    assert invalid.returncode == 1
    assert "duration_seconds: Input should be greater than 0" in invalid.stderr
    nowhere = run_cli(
        "phoenix", ["experiment", "list"], {**env, "PHOENIX_API_URL": "http://127.0.0.1:9"}
    )
    assert nowhere.stderr.startswith("Error: Cannot reach the Phoenix API at http://127.0.0.1:9")


def test_watch_follows_an_experiment_until_it_ends(api: Api) -> None:
    import subprocess

    from support.processes import BIN

    with api.as_("operator") as operator:
        spec = _spec()
        spec["variants"][1] = {"name": "same", "role": "candidate", "template": "baseline"}
        experiment = operator.post("/api/v1/experiments", json=spec).json()["id"]
        operator.post(f"/api/v1/experiments/{experiment}/start")
        _until(lambda: operator.get("/api/v1/tasks/stats").json()["depth"]["pending"] == 2)
        env = {
            "PHOENIX_API_URL": api.url,
            "PHOENIX_TOKEN": api.tokens["viewer"],
            "PATH": "/usr/bin:/bin",
        }
        watcher = subprocess.Popen(
            [str(BIN / "phoenix"), "experiment", "watch", experiment],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert watcher.stdout is not None
            first = watcher.stdout.readline()  # subscribed: live notices reach it from now on
            operator.post(f"/api/v1/experiments/{experiment}/stop")
            agent = httpx.Client(
                base_url=api.url, headers={"Authorization": f"Bearer {api.host_token}"}
            )
            with agent:
                _until(
                    lambda: operator.get("/api/v1/tasks/stats").json()["depth"]["cancelled"] == 2
                )
                _until(lambda: operator.get("/api/v1/tasks/stats").json()["depth"]["pending"] == 2)
                tasks = agent.get("/agent/v1/tasks", params={"wait": 0, "limit": 10}).json()[
                    "tasks"
                ]
                assert {t["action"] for t in tasks} == {"stop"}
                for task in tasks:
                    report = {"attempt": task["attempt"], "status": "succeeded"}
                    agent.post(f"/agent/v1/tasks/{task['id']}/status", json=report)
            watcher.wait(timeout=60)  # (its few lines fit in the pipe)
            # read through the same buffered file as the first line, which may hold more
            rest, stderr = watcher.stdout.read(), watcher.stderr.read()  # type: ignore[union-attr]
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait(timeout=10)
            for stream in (watcher.stdout, watcher.stderr):
                if stream is not None:
                    stream.close()
    assert watcher.returncode == 0, stderr
    lines = (first + rest).strip().splitlines()
    assert "experiment_created" in lines[0]
    assert lines[-1].endswith("stopping -> stopped")
    assert any("draft -> scheduled" in line and "user:olga" in line for line in lines), lines
    assert (
        sum("task_updated" in line and "/stop attempt 1: succeeded" in line for line in lines) == 2
    )


def test_sink_secrets_never_leave_except_to_the_host(
    tmp_path: Path, receiver: PrometheusServer
) -> None:
    """Secrets in the sink: redacted in every response, event and log line (at debug level),
    kept across an edit that sends the redaction back, in clear only in the host's config (and
    to the sink itself, which a start's check writes to)."""
    secret, tenant = "tok-5e3c7a1f9b", "tenant-0d2e8b44"
    env = {
        "PHOENIX_DATA_DIR": str(tmp_path),
        "PHOENIX_CONTROLLER_INTERVAL_SECONDS": "0.2",
        "PHOENIX_LOG_LEVEL": "debug",
        "PHOENIX_CONTROLLER_PROMETHEUS_URL": receiver.url,
    }
    operator_token = cli_token(env, "token", "create", "olga", "--role", "operator")
    enrol = cli_token(env, "enrolment-token", "create", "rack-1")
    sink = {"url": receiver.remote_write_url, "bearer_token": secret,
            "headers": {"X-Scope-OrgID": tenant}}  # fmt: skip
    spec = _spec(sink=sink, collector="otelcol")
    seen: list[str] = []
    with api_server(env) as (url, process):
        assert process.stderr is not None
        log_lines: list[str] = []
        reader = threading.Thread(target=lambda: log_lines.extend(process.stderr), daemon=True)
        reader.start()  # (a full pipe would block the server)
        host_token = online_host(url, enrol)
        agent = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {host_token}"})
        operator = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {operator_token}"})
        with agent, operator:
            created = operator.post("/api/v1/experiments", json=spec)
            assert created.status_code == 201, created.text
            experiment_id = created.json()["id"]
            shown = created.json()["spec"]["sink"]
            assert shown["bearer_token"] == shown["headers"]["X-Scope-OrgID"] == "**********"
            got = operator.get(f"/api/v1/experiments/{experiment_id}")
            # an edit of something else sends the redacted sink back: the secrets stay
            edited = dict(got.json()["spec"], description="edited")
            put = operator.put(
                f"/api/v1/experiments/{experiment_id}",
                json=edited,
                headers={"If-Match": got.headers["etag"]},
            )
            assert put.status_code == 200, put.text
            seen += [created.text, got.text, put.text]
            seen.append(operator.post(f"/api/v1/experiments/{experiment_id}/dry-run").text)
            assert operator.post(f"/api/v1/experiments/{experiment_id}/start").status_code == 202
            configs = []
            deadline = time.monotonic() + 30
            while len(configs) < 2:
                assert time.monotonic() < deadline
                for task in agent.get("/agent/v1/tasks", params={"wait": 2}).json()["tasks"]:
                    sha = task["payload"]["config_sha256"]
                    configs.append(agent.get(f"/agent/v1/configs/{sha}").text)
            seen.append(operator.get(f"/api/v1/experiments/{experiment_id}/events").text)
            seen.append(operator.get("/api/v1/experiments").text)
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(timeout=30)
    log = "".join(log_lines)
    assert "Started server process" in log  # the whole log, at debug level
    for text in [*seen, log]:
        assert secret not in text and tenant not in text
    for config in configs:  # the host's own configs carry them, for its collectors
        assert f"Bearer {secret}" in config and tenant in config
