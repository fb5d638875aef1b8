"""On PostgreSQL the API remembers who holds a token (an hour here, so that only a revocation
can explain a refusal): a revocation by another process (the CLI) is heard at once, and a
host decommissioned through this API cannot use its token for the very next request (it may
enrol again, as a new host)."""

from __future__ import annotations

import time

import httpx

import phoenix_core
from support.processes import api_server, run_cli


def _cli(env: dict[str, str], *args: str) -> str:
    result = run_cli("phoenix", list(args), env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_revocations_reach_the_cache(postgres_url: str) -> None:
    env = {"PHOENIX_DATABASE_URL": postgres_url, "PHOENIX_TOKEN_CACHE_SECONDS": "3600"}
    viewer = _cli(env, "token", "create", "vera", "--role", "viewer")
    admin = _cli(env, "token", "create", "ada", "--role", "admin")
    enrol = _cli(env, "enrolment-token", "create", "rack")
    with api_server(env) as (url, _):
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {enrol}"}) as c:
            body = {"hostname": "web-1", "agent_version": phoenix_core.__version__}
            host = c.post("/agent/v1/register", json=body).json()
        as_viewer = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {viewer}"})
        as_admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"})
        as_host = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {host['token']}"})
        beat = {"agent_version": phoenix_core.__version__, "status": "healthy"}
        with as_viewer, as_admin, as_host:
            assert as_viewer.get("/api/v1/hosts").status_code == 200  # now cached
            assert as_host.post("/agent/v1/heartbeat", json=beat).status_code == 200
            _cli(env, "token", "revoke", "vera")  # another process
            deadline = time.monotonic() + 30
            while (answer := as_viewer.get("/api/v1/hosts")).status_code == 200:
                assert time.monotonic() < deadline, "the revocation was never heard"
                time.sleep(0.05)
            assert answer.status_code == 401
            assert "was revoked" in answer.json()["detail"]
            # decommissioned through this process: refused from the very next request
            decommission = as_admin.post(f"/api/v1/hosts/{host['host_id']}/decommission")
            assert decommission.status_code == 200, decommission.text
            refused = as_host.post("/agent/v1/heartbeat", json=beat)
            assert refused.status_code == 401 and "was revoked" in refused.json()["detail"]
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {enrol}"}) as c:
            again = c.post("/agent/v1/register", json=body)
        assert again.status_code == 201 and again.json()["host_id"] != host["host_id"]
