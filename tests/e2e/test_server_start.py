"""The real ``phoenix`` program: it starts on SQLite and PostgreSQL, and refuses bad databases
with one clear sentence (no traceback)."""

from __future__ import annotations

import http.client
import json
import re
import resource
import signal
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from support.postgres import free_port
from support.processes import api_server, run_cli
from support.waiting import until


def _wait_ready(url: str) -> dict[str, str]:
    response = httpx.get(f"{url}/readyz", timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_serves_on_the_embedded_default(tmp_path: Path) -> None:
    with api_server({"PHOENIX_DATA_DIR": str(tmp_path)}) as (url, process):
        assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}
        ready = _wait_ready(url)
        assert ready["status"] == "ready"
        assert ready["database"] == "sqlite"
        assert (tmp_path / "phoenix.db").is_file()
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert process.wait(timeout=20) in (0, -signal.SIGTERM)
        assert process.stderr is not None
        assert "phoenix_api.app: stopped" in process.stderr.read()


def test_serves_on_postgresql_from_an_empty_database(empty_postgres_url: str) -> None:
    with api_server({"PHOENIX_DATABASE_URL": empty_postgres_url}) as (url, _):
        ready = _wait_ready(url)
    assert ready["database"] == "postgresql"


def test_unknown_route_is_a_problem_document(tmp_path: Path) -> None:
    with api_server({"PHOENIX_DATA_DIR": str(tmp_path)}) as (url, _):
        response = httpx.get(f"{url}/nope", timeout=10)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Not Found",
    }


def test_lifts_its_soft_limit_on_open_files(tmp_path: Path) -> None:
    """Started with a login shell's 1,024 soft limit (inherited), the server lifts it to the
    hard one: a thousand agents' long-polls alone would exhaust it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip(f"the hard limit here is {hard}: nothing to lift")
    with ExitStack() as stack:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        try:  # the server inherits the lowered limit as it starts
            _, process = stack.enter_context(api_server({"PHOENIX_DATA_DIR": str(tmp_path)}))
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        limits = Path(f"/proc/{process.pid}/limits").read_text()
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    served_soft, served_hard = line.split()[3:5]
    assert served_soft == served_hard != "1024", line


@contextmanager
def _kept_alive(url: str) -> Iterator[tuple[socket.socket, float]]:
    """A connection that has had one whole answer and is kept alive, idle from now on, with
    the time its request was sent (before the server could arm its keep-alive timer).

    Read as HTTP, not with one ``recv``: uvicorn writes an answer's head and its body apart,
    and a read that ends between them (the server descheduled in between, as on a busy
    machine) would leave the body to be mistaken later for a sign of an open connection."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    client = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        asked_at = time.monotonic()
        client.request("GET", "/healthz")
        response = client.getresponse()
        assert response.status == 200
        assert json.loads(response.read()) == {"status": "ok"}
        assert not response.will_close, "the answer closes the connection"
        assert client.sock is not None
        yield client.sock, asked_at
    finally:
        client.close()


def _closed_by(connection: socket.socket, deadline: float) -> bool:
    """Whether the server closes the idle ``connection`` before ``deadline`` (on the
    ``time.monotonic`` clock); returns as soon as it does."""
    connection.settimeout(max(deadline - time.monotonic(), 0.01))
    try:
        data = connection.recv(1)
    except TimeoutError:
        return False
    assert data == b"", f"an idle connection received {data!r}"
    return True


UVICORN_KEEP_ALIVE_SECONDS = 5
"""What uvicorn keeps an idle connection for when it is not told."""


def test_keeps_idle_connections_as_long_as_it_is_told(tmp_path: Path) -> None:
    """uvicorn arms a timer of the keep-alive when an answer is complete and closes the idle
    connection when it fires: never sooner, later by as much as its event loop is late (on a
    loaded machine). So both bounds are taken from when the request was sent, which precedes
    the arming: the close must not come before the keep-alive (load cannot make it earlier),
    and is awaited until well after it, yet before uvicorn's own default would close it."""
    env = {"PHOENIX_DATA_DIR": str(tmp_path)}
    with api_server({**env, "PHOENIX_KEEP_ALIVE_SECONDS": "1"}) as (url, _):
        _wait_ready(url)  # the first answer waits out the start-up: not on the clock below
        with _kept_alive(url) as (connection, asked_at):
            deadline = asked_at + UVICORN_KEEP_ALIVE_SECONDS - 1
            assert _closed_by(connection, deadline), "open 4 s after its request (keep-alive 1 s)"
            assert time.monotonic() - asked_at >= 1, "closed inside its keep-alive (1 s)"
    # the default outlasts uvicorn's own (load only lengthens the idle time, by far less than 75 s)
    with api_server(env) as (url, _), _kept_alive(url) as (connection, _):
        time.sleep(UVICORN_KEEP_ALIVE_SECONDS + 1)
        assert not _closed_by(connection, time.monotonic() + 0.5), "closed inside 75 s"


def _full_collections(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.search(r'^python_gc_collections_total\{generation="2"\} (\S+)$', metrics, re.M)
    assert found, "no full-collection count in /metrics"
    return float(found.group(1))


def test_runs_full_collections_on_its_clock(tmp_path: Path) -> None:
    """Python's full garbage collections (each a pause of every request in flight, with a
    fleet's long-polls held) run every PHOENIX_FULL_COLLECTION_SECONDS, counted in /metrics."""
    env = {"PHOENIX_DATA_DIR": str(tmp_path), "PHOENIX_FULL_COLLECTION_SECONDS": "0.5"}
    with api_server(env) as (url, _):
        before = _full_collections(url)
        # an idle server's own collector would run none: four come only from the clock
        until(lambda: _full_collections(url) - before >= 4, "four full collections", timeout=60)


def _ahead_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ahead.db'}"
    assert run_cli("phoenix", ["db", "upgrade"], {"PHOENIX_DATABASE_URL": url}).returncode == 0
    with sqlite3.connect(tmp_path / "ahead.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00dfeed9999'")
    return url


BAD_DATABASES = {
    "malformed URL": (
        lambda tmp: "postgresql+psycopg://:::",
        "PHOENIX_DATABASE_URL is not a valid database URL",
    ),
    "unsupported driver": (lambda tmp: "mysql://u@h/db", "which Phoenix does not support"),
    "unreachable PostgreSQL": (
        lambda tmp: f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/phoenix",
        "Cannot connect to PostgreSQL at 127.0.0.1:",
    ),
    "database from a newer Phoenix": (
        _ahead_sqlite,
        "The database is at migration 'f00dfeed9999', which this version of Phoenix does not know",
    ),
}


@pytest.mark.parametrize("command", [["db", "upgrade"], ["api", "serve", "--port", "0"]])
@pytest.mark.parametrize("case", list(BAD_DATABASES))
def test_bad_databases_stop_start_up_with_one_sentence(
    case: str, command: list[str], tmp_path: Path
) -> None:
    make_url, message = BAD_DATABASES[case]
    result = run_cli("phoenix", command, {"PHOENIX_DATABASE_URL": make_url(tmp_path)})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert message in lines[0]
    assert result.stdout == ""


def test_a_port_in_use_is_one_sentence(tmp_path: Path) -> None:
    with api_server({"PHOENIX_DATA_DIR": str(tmp_path)}) as (url, _):
        port = url.rsplit(":", 1)[1]
        result = run_cli(
            "phoenix", ["api", "serve", "--port", port], {"PHOENIX_DATA_DIR": str(tmp_path)}
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: Cannot listen on 127.0.0.1:{port}: Address already in use."
    ]


def test_db_upgrade_and_status(tmp_path: Path) -> None:
    env = {"PHOENIX_DATA_DIR": str(tmp_path)}
    before = run_cli("phoenix", ["db", "status"], env)
    assert "state:   empty" in before.stdout
    upgraded = run_cli("phoenix", ["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "(head)" in upgraded.stdout
    after = run_cli("phoenix", ["db", "status"], env)
    assert "state:   at_head" in after.stdout


def test_tokens_from_the_command_line(tmp_path: Path) -> None:
    env = {"PHOENIX_DATA_DIR": str(tmp_path)}
    created = run_cli(
        "phoenix", ["token", "create", "alice", "--role", "admin", "--expires-in", "30d"], env
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("phx_u_")
    assert "shown only now" in created.stderr
    listed = run_cli("phoenix", ["token", "list", "--output", "json"], env)
    assert token not in listed.stdout
    assert '"name": "alice"' in listed.stdout
    again = run_cli("phoenix", ["token", "create", "alice", "--role", "admin"], env)
    assert again.returncode == 1
    assert again.stderr.strip() == "Error: A user token named 'alice' exists already."
    assert run_cli("phoenix", ["token", "revoke", "alice"], env).returncode == 0
    bad = run_cli(
        "phoenix", ["token", "create", "bob", "--role", "viewer", "--expires-in", "3x"], env
    )
    assert bad.returncode == 2
    assert "'--expires-in'" in bad.stderr
    enrol = run_cli("phoenix", ["enrolment-token", "create", "rack-7"], env)
    assert enrol.stdout.startswith("phx_e_")
