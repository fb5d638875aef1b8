"""``deploy/kubernetes/``, offline: every manifest passes ``kubernetes-validate --strict``
against pinned Kubernetes versions, and the DaemonSet fits the agent it runs: each variable it
sets is an agent setting, the host is named after its node, the state folder is the hostPath,
no service-account token and no RBAC, and its liveness probe, run here, tells a fresh status
file (as the agent writes it) from a stale one. There is no container engine here: the
Containerfile is checked for what the DaemonSet relies on, never built."""

from __future__ import annotations

import inspect
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from phoenix_agent.control_plane import ControlPlane
from phoenix_agent.runner import Agent
from phoenix_agent.settings import AgentSettings, load_agent_settings
from support.postgres import free_port
from support.waiting import until

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "deploy" / "kubernetes"
MANIFESTS = sorted(p for p in FOLDER.iterdir() if p.suffix in {".yaml", ".yml"})
KUBERNETES_VERSIONS = ["1.33.0", "1.37.0"]
"""Pinned (the tool's own default moves with its releases): an older and its newest."""
PREFIX = "PHOENIX_AGENT_"
RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}


def _documents() -> list[dict[str, Any]]:
    documents = []
    for path in MANIFESTS:
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return documents


def _daemonset() -> dict[str, Any]:
    found = [d for d in _documents() if d["kind"] == "DaemonSet"]
    assert len(found) == 1, f"one DaemonSet expected, found {len(found)}"
    return found[0]


def _pod() -> dict[str, Any]:
    pod: dict[str, Any] = _daemonset()["spec"]["template"]["spec"]
    return pod


def _agent() -> dict[str, Any]:
    containers: list[dict[str, Any]] = [c for c in _pod()["containers"] if c["name"] == "agent"]
    assert len(containers) == 1
    return containers[0]


def _env() -> dict[str, dict[str, Any]]:
    entries = _agent()["env"]
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), f"a variable is set twice: {names}"
    return {e["name"]: e for e in entries}


def _state_dir() -> str:
    value: str = _env()[f"{PREFIX}STATE_DIR"]["value"]
    return value


def _settings(**overrides: str) -> AgentSettings:
    """The settings the agent in the pod reads: the DaemonSet's literal values, a node name
    and a token for the two that come from the cluster, then ``overrides`` (by field)."""
    from_cluster = {f"{PREFIX}HOSTNAME": "node-1", f"{PREFIX}ENROLMENT_TOKEN": "phx_e_test"}
    environ = {
        name: entry["value"] if "value" in entry else from_cluster[name]
        for name, entry in _env().items()
    }
    environ |= {f"{PREFIX}{name.upper()}": value for name, value in overrides.items()}
    return load_agent_settings(environ)


def _validate(paths: list[Path], version: str) -> tuple[int, list[str]]:
    tool = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        [str(tool), "--strict", "-k", version, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, (result.stdout + result.stderr).splitlines()


# --- (a) valid Kubernetes ------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_kubernetes(version: str) -> None:
    assert MANIFESTS, f"no manifests in {FOLDER}"
    returncode, lines = _validate(MANIFESTS, version)
    problems = [line for line in lines if not line.startswith("INFO ")]  # WARN, ERROR, ...
    assert (returncode, problems) == (0, [])
    passed = [line for line in lines if " passed for resource " in line]
    assert len(passed) == len(_documents()), lines  # each resource checked against a schema


def test_the_validator_rejects_what_strict_mode_should(tmp_path: Path) -> None:
    daemonset = _daemonset()
    daemonset["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "readOnlyRootFilesystm"
    ] = True
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(daemonset))
    returncode, lines = _validate([broken], KUBERNETES_VERSIONS[-1])
    assert returncode != 0
    assert any(line.startswith("ERROR ") and "readOnlyRootFilesystm" in line for line in lines)


# --- (b) the agent's settings --------------------------------------------------------------


def test_every_variable_is_an_agent_setting_and_the_host_is_the_node() -> None:
    fields = {f"{PREFIX}{name.upper()}" for name in AgentSettings.model_fields}
    env = _env()
    assert [name for name in env if name not in fields] == []
    assert "envFrom" not in _agent()  # names nobody checks
    assert _pod()["enableServiceLinks"] is False  # no PHOENIX_AGENT_*_PORT from Services
    assert env[f"{PREFIX}HOSTNAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    token = env[f"{PREFIX}ENROLMENT_TOKEN"]
    assert "value" not in token
    assert set(token["valueFrom"]) == {"secretKeyRef"}
    assert f"{PREFIX}API_URL" in env
    settings = _settings()  # every literal value parses
    assert settings.hostname == "node-1"
    assert settings.api_url == env[f"{PREFIX}API_URL"]["value"]


def test_the_image_is_the_projects_version_with_the_user_the_pod_runs_as() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    pod = _pod()
    images = {c["image"] for c in pod["containers"] + pod.get("initContainers", [])}
    assert images == {f"ghcr.io/phoenix-observability/phoenix-agent:{version}"}
    containerfile = (FOLDER / "Containerfile").read_text()
    users = re.findall(r"^USER\s+(\d+):(\d+)\s*$", containerfile, re.MULTILINE)
    uid = pod["securityContext"]["runAsUser"]
    assert users == [(str(uid), str(pod["securityContext"]["runAsGroup"]))]
    assert re.search(r"^RUN pip install /src\b(?!\[)", containerfile, re.MULTILINE)  # no extras
    assert _agent()["command"][-1] == "phoenix-agent"
    assert _agent()["args"] == ["run"]


def test_the_pod_is_locked_down() -> None:
    pod = _pod()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod.get("hostNetwork", False) is False
    assert not pod.get("hostPID") and not pod.get("hostIPC")
    context = _agent()["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert "runAsUser" not in context and "runAsNonRoot" not in context  # the pod's: non-root
    assert {"operator": "Exists"} in pod["tolerations"]  # every node
    strategy = _daemonset()["spec"]["updateStrategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"]


# --- (c) the state folder ------------------------------------------------------------------


def test_the_state_folder_is_the_nodes_and_the_agents_to_write() -> None:
    state_dir = _state_dir()
    mounts = {m["mountPath"]: m for m in _agent()["volumeMounts"]}
    assert state_dir in mounts, f"{state_dir} is not mounted: {sorted(mounts)}"
    assert not mounts[state_dir].get("readOnly", False)
    volumes = {v["name"]: v for v in _pod()["volumes"]}
    volume = volumes[mounts[state_dir]["name"]]
    assert volume["hostPath"]["type"] == "DirectoryOrCreate"
    # kubelet creates the folder for root; the init container gives it to the pod's user
    uid = _pod()["securityContext"]["runAsUser"]
    (init,) = _pod()["initContainers"]
    init_mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    assert init_mounts[volume["name"]] == state_dir
    assert f"chown {uid}:{uid} {state_dir}" in " ".join(init["command"])


# --- (d) no token, no permissions ----------------------------------------------------------


def test_no_service_account_token_no_rbac_no_committed_secret() -> None:
    documents = _documents()
    kinds = {d["kind"] for d in documents}
    assert kinds & RBAC_KINDS == set()
    assert "Secret" not in kinds
    pod = _pod()
    accounts = {
        d["metadata"]["name"]: d
        for d in documents
        if d["kind"] == "ServiceAccount"
        and d["metadata"]["namespace"] == _daemonset()["metadata"]["namespace"]
    }
    account = accounts[pod["serviceAccountName"]]
    assert account["automountServiceAccountToken"] is False
    assert pod.get("automountServiceAccountToken", False) is False
    projected = [
        source
        for volume in pod.get("volumes", [])
        for source in volume.get("projected", {}).get("sources", [])
    ]
    assert not any("serviceAccountToken" in source for source in projected)


# --- (e) the liveness probe ----------------------------------------------------------------


def _probe(state_dir: Path) -> list[str]:
    """The liveness probe's command with the pod's state folder replaced by ``state_dir``."""
    command: list[str] = _agent()["livenessProbe"]["exec"]["command"]
    assert any(_state_dir() in arg for arg in command), command
    return [arg.replace(_state_dir(), str(state_dir)) for arg in command]


def _run(command: list[str]) -> int:
    return subprocess.run(command, capture_output=True, check=False, timeout=10).returncode


def _longest_quiet(settings: AgentSettings) -> float:
    """The longest a healthy agent leaves ``status`` alone: a heartbeat interval (serving)
    or the longest backoff (enrolling), plus one request's connect and read timeouts."""
    timeout = float(inspect.signature(ControlPlane).parameters["timeout"].default)
    return max(settings.heartbeat_seconds, settings.max_backoff_seconds) + 2 * timeout


def test_the_liveness_probe_passes_while_the_agent_writes_its_status(tmp_path: Path) -> None:
    settings = _settings(state_dir=str(tmp_path))
    agent = Agent(settings)
    assert agent.status.path == tmp_path / "status"
    probe = _probe(tmp_path)
    assert _run(probe) != 0  # no status yet
    agent.status.set("heartbeat", "ok", "0 leases extended")
    assert _run(probe) == 0
    quiet = time.time() - _longest_quiet(settings)
    os.utime(agent.status.path, (quiet, quiet))
    assert _run(probe) == 0, "the probe would restart a healthy agent"
    stale = time.time() - 3600
    os.utime(agent.status.path, (stale, stale))
    assert _run(probe) != 0, "the probe would keep a stuck agent"


def test_the_liveness_probe_passes_for_an_agent_that_cannot_reach_its_api(
    tmp_path: Path,
) -> None:
    """A real ``phoenix-agent run`` still enrolling (the API is down) keeps its status fresh:
    the probe must not restart it for that."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    env |= {
        f"{PREFIX}API_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens
        f"{PREFIX}ENROLMENT_TOKEN": "phx_e_test",
        f"{PREFIX}STATE_DIR": str(tmp_path),
        f"{PREFIX}HOSTNAME": "node-1",
    }
    agent = subprocess.Popen(
        [str(Path(sys.executable).parent / "phoenix-agent"), "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status = tmp_path / "status"
        until(lambda: status.exists() or agent.poll() is not None, "the agent writes status")
        assert agent.poll() is None, agent.communicate()[1]
        assert status.read_text().startswith("enrol retrying ")
        assert _run(_probe(tmp_path)) == 0
    finally:
        agent.send_signal(signal.SIGTERM)  # drains: exits 0 without enrolling
        _, stderr = agent.communicate(timeout=30)
    assert agent.returncode == 0, stderr
