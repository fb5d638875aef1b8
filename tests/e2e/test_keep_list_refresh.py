"""A keep-list refresh reloads a real collector: ``phoenix api serve`` (PostgreSQL, its
controller in it) runs a baseline and a top-1 candidate on ``prometheus-agent`` through
``phoenix-agent run``, scraping an exporter whose values the test sets and writing to a real
Prometheus. When the busiest process changes, the next refresh records a ``config_refreshed``
event and the candidate's collector takes its new keep-list in place (the same process; its
reload metric says it succeeded): from then on only the new process's series arrive. A refresh
whose keep-list is the same changes nothing: no event, no reload.

A refresh is due every ``refresh_seconds`` (60) after the last render; the test makes it due at
once by clearing the time of that render, as the controller does for a pipeline never rendered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy import text

from phoenix_core.wire.labels import matchers
from support.world import World, until

PROCESSES = ("a", "b", "c")
CPU = "process_cpu_seconds_total"


def _series(busiest: str) -> pd.DataFrame:
    """Two process metrics for three processes; ``busiest`` has by far the most CPU."""
    cpu = {p: 90.0 if p == busiest else 10.0 + i for i, p in enumerate(PROCESSES)}
    return pd.DataFrame(
        [{"__name__": CPU, "process": p, "__value__": cpu[p]} for p in PROCESSES]
        + [{"__name__": "process_open_fds", "process": p, "__value__": 7.0} for p in PROCESSES]
    )


@pytest.fixture
def world(postgres_url: str, tmp_path: Path) -> Iterator[World]:
    with ExitStack() as stack:
        yield World(stack, postgres_url, tmp_path, _series(busiest="a"))


def test_a_changed_keep_list_reloads_the_collector_in_place_and_a_same_one_does_not(
    world: World,
) -> None:
    experiment = world.start_experiment(
        variants=[
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {"name": "top1", "role": "candidate", "template": "top-k", "variables": {"k": 1}},
        ]
    )
    world.wait_started(experiment)
    collector = world.collectors()["top1"]
    started = _pipeline(world, experiment)
    assert started["rendered_at"] is not None

    # b is the busiest now: once top1 ran its first keep-list (a's) and the baseline's values
    # say so, a refresh reloads top1
    world.source.serve(_series(busiest="b"))
    until(lambda: _scraped(collector), "top1 scraped the exporter")
    until(lambda: _cpu_of(world, experiment, "b") == 90.0, "the baseline's new values arrived")
    due = time.time()
    _make_due(world, experiment)
    reload = until(lambda: _reload(world, experiment), "the reload succeeded")
    assert reload["result"] == {
        "pid": collector.pid,
        "config_sha256": reload["payload"]["config_sha256"],
        "in_place": True,
    }
    assert world.collectors()["top1"].pid == collector.pid and collector.is_running()
    refreshed = _refreshed(world, experiment)
    assert [e["data"] for e in refreshed] == [
        {
            "variant": "top1",
            "host": "web-1",
            "previous_config_sha256": started["config_sha256"],
            "config_sha256": reload["payload"]["config_sha256"],
        }
    ]
    # the collector says it loaded a config since, and the series since then are b's alone
    own = _metrics(collector)
    assert own["prometheus_config_last_reload_successful"] == 1
    assert own["prometheus_config_last_reload_success_timestamp_seconds"] > due
    reloaded = reload["completed_at"].timestamp()
    until(lambda: _processes(world, experiment, reloaded), "top1 delivered since the reload")
    assert _processes(world, experiment, reloaded) == {"b"}
    assert _processes(world, experiment, 0, until=reloaded) == {"a"}  # and before it, a's

    # due again with the same values: rendered again, the same config, nothing sent
    _make_due(world, experiment)
    again = until(
        lambda: (p := _pipeline(world, experiment))["rendered_at"] is not None and p,
        "the controller rendered top1 again",
    )
    assert again["config_sha256"] == reload["payload"]["config_sha256"]
    assert len(_reloads(world, experiment)) == 1
    assert len(_refreshed(world, experiment)) == 1
    assert world.collectors()["top1"].pid == collector.pid


def _pipeline(world: World, experiment: str) -> dict[str, Any]:
    with world.engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT config_sha256, rendered_at FROM active_pipelines"
                " WHERE experiment_id = :e AND variant = 'top1'"
            ),
            {"e": experiment},
        ).one()
    return dict(row._mapping)


def _make_due(world: World, experiment: str) -> None:
    with world.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE active_pipelines SET rendered_at = NULL"
                " WHERE experiment_id = :e AND variant = 'top1'"
            ),
            {"e": experiment},
        )


def _reloads(world: World, experiment: str) -> list[dict[str, Any]]:
    with world.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT status, payload, result, completed_at FROM agent_tasks"
                " WHERE experiment_id = :e AND action = 'reload' ORDER BY id"
            ),
            {"e": experiment},
        ).all()
    return [dict(row._mapping) for row in rows]


def _reload(world: World, experiment: str) -> dict[str, Any] | None:
    """The one reload task, once it is finished (failing the test if it failed)."""
    reloads = _reloads(world, experiment)
    assert len(reloads) <= 1, reloads
    if not reloads or reloads[0]["status"] in ("pending", "claimed", "running"):
        return None
    assert reloads[0]["status"] == "succeeded", reloads[0]
    return reloads[0]


def _refreshed(world: World, experiment: str) -> list[dict[str, Any]]:
    page = world.operator.get(f"/api/v1/experiments/{experiment}/events").json()
    return [e for e in page["items"] if e["type"] == "config_refreshed"]


def _cpu_of(world: World, experiment: str, process: str) -> float | None:
    selector = f'{CPU}{{{matchers(experiment, "baseline")},job="app",process="{process}"}}'
    found = world.prometheus.query(selector)
    return found[0][1] if found else None


def _processes(world: World, experiment: str, since: float, until: float | None = None) -> set[str]:
    """The processes of the series top1 delivered from the exporter (job ``app``; the
    collector's own process metrics have no ``process``) with samples scraped after ``since``
    and up to ``until`` (epoch seconds; since 0: the minute before ``until``; until None: now)."""
    end = time.time() if until is None else until
    window = 60_000 if not since else int((end - since) * 1000)
    if window <= 0:
        return set()
    at = "" if until is None else f" @ {until:.3f}"
    selector = f'{{{matchers(experiment, "top1")},job="app"}}'
    counts = [
        f"count by (process) (count_over_time({name}{selector}[{window}ms]{at}))"
        for name in (CPU, "process_open_fds")
    ]
    return {labels["process"] for labels, _ in world.prometheus.query(" or ".join(counts))}


def _web(process: Any) -> str:
    """A Prometheus agent's web address, from its command line."""
    listen = next(a for a in process.cmdline() if a.startswith("--web.listen-address="))
    return f"http://{listen.split('=', 1)[1]}"


def _scraped(process: Any) -> bool:
    """Whether the agent has scraped the exporter (job ``app``) at least once."""
    targets = httpx.get(f"{_web(process)}/api/v1/targets", timeout=5).json()["data"]
    return any(
        t["labels"]["job"] == "app" and t["health"] == "up" for t in targets["activeTargets"]
    )


def _metrics(process: Any) -> dict[str, float]:
    """A Prometheus agent's own metrics (those without labels)."""
    body = httpx.get(f"{_web(process)}/metrics", timeout=5).text
    return {
        line.split()[0]: float(line.split()[1])
        for line in body.splitlines()
        if line and not line.startswith("#") and "{" not in line.split()[0]
    }
