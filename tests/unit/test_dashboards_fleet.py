"""The Fleet page's tables and states, against the in-memory client (no server, no browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import panel as pn
import pytest

from phoenix_core.auth import Unauthenticated
from phoenix_core.client import ApiUnavailable
from phoenix_dashboards.fleet import NO_HOSTS, FleetPage
from phoenix_dashboards.fleet_tables import (
    collector_row_style,
    collectors_table,
    filter_hosts,
    fleet_summary,
    fleet_table,
    host_row_style,
)
from phoenix_dashboards.formatting import age
from support.dashboard_fake import NOW, PANEL_PANDAS_WARNING, FakeClient, collector, host

pytestmark = pytest.mark.filterwarnings(PANEL_PANDAS_WARNING)


@pytest.fixture(autouse=True)
def _fresh_panel_state() -> Iterator[None]:
    yield
    pn.state.reset()


WEB1 = host("web-1", labels={"env": "staging", "role": "web"})
WEB2 = host("web-2", "degraded", labels={"env": "staging"}, beat_seconds_ago=65)
DB1 = host("db-1", "offline", labels={"env": "prod"}, beat_seconds_ago=None, cpu=None)
LOOPING = collector(WEB1, "slim", "crash_looping", restarts=6)
RUNNING = collector(WEB1, "baseline", "running", restarts=1)


def test_each_host_row_says_its_status_labels_heartbeat_version_and_what_needs_attention() -> None:
    table = fleet_table([WEB1, WEB2, DB1], [LOOPING, RUNNING], NOW)
    rows = table.set_index("host").to_dict("index")
    assert rows["web-1"]["attention"] == "crash-looping collector (1)"
    assert rows["web-1"]["labels"] == "env=staging, role=web"
    assert rows["web-1"]["last heartbeat"] == "2026-12-01 11:59:55 UTC"
    assert rows["web-1"]["age"] == "5 s"
    assert rows["web-1"]["agent"] == "0.1.0"
    assert rows["web-1"]["CPU (%)"] == 12.5
    assert rows["web-2"]["attention"] == "degraded"
    assert rows["web-2"]["age"] == "1 min"
    assert rows["db-1"]["attention"] == "offline"
    assert rows["db-1"]["last heartbeat"] == "never"
    assert rows["db-1"]["age"] == "never"
    assert rows["db-1"]["CPU (%)"] is None or rows["db-1"]["CPU (%)"] != rows["db-1"]["CPU (%)"]


def test_ages_are_whole_units_rounded_down() -> None:
    assert [age(NOW - timedelta(seconds=s), NOW) for s in (0, 59, 60, 3599, 3600, 86_400)] == [
        "0 s", "59 s", "1 min", "59 min", "1 h", "1 d",
    ]  # fmt: skip
    assert age(NOW + timedelta(seconds=3), NOW) == "0 s"  # a host clock ahead of ours
    assert age(None, NOW) == "never"


def test_filters_keep_hosts_needing_attention_and_matching_text() -> None:
    table = fleet_table([WEB1, WEB2, DB1, host("web-3")], [LOOPING], NOW)
    assert list(filter_hosts(table, True, "")["host"]) == ["web-1", "web-2", "db-1"]
    assert list(filter_hosts(table, False, "PROD")["host"]) == ["db-1"]
    assert list(filter_hosts(table, True, "web")["host"]) == ["web-1", "web-2"]


def test_offline_rows_are_red_other_trouble_amber_and_bad_collectors_red() -> None:
    table = fleet_table([WEB1, DB1, host("web-3")], [LOOPING], NOW)
    styles = [host_row_style(row)[0] for _, row in table.iterrows()]
    assert "#fdecea" in styles[1]  # db-1 offline
    assert "#fff4e5" in styles[0]  # web-1: a collector crash-loops
    assert styles[2] == ""
    collectors = collectors_table([LOOPING, RUNNING], NOW)
    assert [collector_row_style(row)[0] != "" for _, row in collectors.iterrows()] == [True, False]
    assert list(collectors["last report age"]) == ["3 s", "3 s"]


def test_the_summary_counts_hosts_and_collectors() -> None:
    hosts = fleet_table([WEB1, WEB2, DB1], [LOOPING, RUNNING], NOW)
    collectors = collectors_table([LOOPING, RUNNING], NOW)
    assert fleet_summary(hosts, collectors) == (
        "3 hosts: 2 online, 1 offline; 3 need attention; 2 collectors, 1 crash-looping"
    )


def test_the_page_reads_hosts_and_collectors_once_per_refresh_and_filters_without_reading() -> None:
    client = FakeClient(hosts=[WEB1, WEB2, DB1], collectors=[LOOPING, RUNNING])
    page = FleetPage(client)
    assert page.state.phase == "loading"
    asyncio.run(page.refresh())
    assert page.state.phase == "ready"
    assert [name for name, _ in client.calls] == ["hosts", "collectors"]
    shown = page._hosts_table.value
    assert list(shown["host"]) == ["web-1", "web-2", "db-1"]
    assert list(page._collectors_table.value["restarts"]) == [6, 1]
    page.param.update(attention_only=True, text="db")
    assert list(page._hosts_table.value["host"]) == ["db-1"]
    assert len(client.calls) == 2  # the filters work on what was read
    assert page.last_refreshed.endswith("UTC")


def test_no_host_is_the_empty_state_and_no_collector_says_so() -> None:
    page = FleetPage(FakeClient())
    asyncio.run(page.refresh())
    assert (page.state.phase, page.state.message) == ("empty", NO_HOSTS)
    page = FleetPage(FakeClient(hosts=[WEB1]))
    asyncio.run(page.refresh())
    assert page.state.phase == "ready"
    assert page._no_collectors.visible and not page._collectors_table.visible


def test_an_unreachable_api_is_the_error_state_in_the_client_s_words() -> None:
    client = FakeClient(hosts=[WEB1])
    page = FleetPage(client)
    asyncio.run(page.refresh())
    client.fail = ApiUnavailable(
        "Cannot reach the Phoenix API at http://phoenix.test:8000: refused."
    )
    asyncio.run(page.refresh())
    assert page.state.phase == "error"
    assert "http://phoenix.test:8000" in page.state.message
    client.fail = None
    asyncio.run(page.refresh())  # and back once it answers
    assert page.state.phase == "ready"


def test_a_refused_token_ends_the_login_and_stops_refreshing() -> None:
    ended: list[str] = []
    client = FakeClient(hosts=[WEB1])
    client.fail = Unauthenticated("The token 'vic' expired.")
    page = FleetPage(client, ended.append)
    asyncio.run(page.refresh())
    assert ended == ["The token 'vic' expired."]
    assert page.state.phase == "error" and not page.running


def test_a_refresh_asked_during_a_read_reads_again_after_it() -> None:
    client = FakeClient(hosts=[WEB1])
    page = FleetPage(client)

    async def twice() -> None:
        await asyncio.gather(page.refresh(), page.refresh(), page.refresh())

    asyncio.run(twice())
    assert [name for name, _ in client.calls] == ["hosts", "collectors"] * 2
