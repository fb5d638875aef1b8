"""The dashboards' data layer and logins: the cache in front of the client, the sessions that
hold tokens on the server, the login page's checks, and the redirect of a visitor without a
login (no server, no browser)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import panel as pn
import pytest

from phoenix_core.auth import Forbidden, Unauthenticated
from phoenix_core.client import ApiUnavailable, PhoenixClient
from phoenix_core.errors import ConfigurationError, PhoenixError
from phoenix_dashboards.browser import BrowserActions
from phoenix_dashboards.data import CachedClient, DashboardClient
from phoenix_dashboards.login import LoginPage
from phoenix_dashboards.serving import Dashboards, guarded
from phoenix_dashboards.sessions import LoginSessions
from phoenix_dashboards.template import Site
from support.dashboard_fake import PANEL_PANDAS_WARNING, FakeClient, host

pytestmark = pytest.mark.filterwarnings(PANEL_PANDAS_WARNING)

TOKEN = "phx_u_" + "A" * 43


@pytest.fixture(autouse=True)
def _fresh_panel_state() -> Iterator[None]:
    yield
    pn.state.reset()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_answers_are_reused_for_the_ttl_and_errors_never() -> None:
    fake, clock = FakeClient(hosts=[host("web-1")]), Clock()
    cached = CachedClient(fake, ttl_seconds=5, clock=clock)
    assert cached.hosts() == cached.hosts()
    assert [name for name, _ in fake.calls] == ["hosts"]
    clock.now += 5
    cached.hosts()
    assert len(fake.calls) == 2 and cached.calls == 2
    cached.experiments_page(state="draft", limit=5)
    cached.experiments_page(state="draft", limit=5, cursor="5")  # another key: asked
    assert len(fake.calls) == 4
    fake.fail = ApiUnavailable("down")
    clock.now += 5
    for _ in range(2):
        with pytest.raises(ApiUnavailable):
            cached.hosts()
    assert len(fake.calls) == 6  # the failure was not remembered
    cached.close()
    assert fake.closed


def test_identical_calls_made_together_share_one_request() -> None:
    class Slow(FakeClient):
        def hosts(self) -> list[dict[str, object]]:
            time.sleep(0.2)
            return super().hosts()

    slow = Slow(hosts=[host("web-1")])
    cached = CachedClient(slow)
    threads = [threading.Thread(target=cached.hosts) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(slow.calls) == 1


def test_both_clients_are_dashboard_clients() -> None:
    real: DashboardClient = PhoenixClient("http://127.0.0.1:9", TOKEN)
    wrapped: DashboardClient = CachedClient(real)
    assert wrapped.base_url == real.base_url == "http://127.0.0.1:9"
    wrapped.close()


def test_a_session_holds_its_client_until_logged_out_or_unused_and_says_why_once() -> None:
    clock = Clock()
    sessions = LoginSessions(lambda token: FakeClient(), idle_seconds=60, clock=clock)
    client = sessions.client_for(TOKEN)
    session = sessions.open(client)
    assert len(session.id) >= 43 and sessions.get(session.id) is session
    assert sessions.get(None) is None and sessions.get("forged") is None
    sessions.end(session.id, "You logged out.")
    assert sessions.get(session.id) is None
    assert sessions.farewell(session.id) == "You logged out."
    assert sessions.farewell(session.id) is None  # said once
    assert isinstance(client, FakeClient) and client.closed
    with pytest.raises(Unauthenticated, match="This login has ended"):
        session.client.hosts()  # what another page of the login meets next
    ended = sessions.open(FakeClient())
    sessions.end(ended.id, "The token 'vic' was revoked.")
    sessions.end(ended.id, "This login has ended: log in again.")
    assert sessions.farewell(ended.id) == "The token 'vic' was revoked."
    idle = sessions.open(FakeClient())
    clock.now += 59
    assert sessions.get(idle.id) is idle  # used: its idle time starts again
    clock.now += 61
    assert sessions.get(idle.id) is None
    assert "without use" in (sessions.farewell(idle.id) or "")
    assert len(sessions) == 0


def _login(fake: FakeClient | Exception) -> tuple[LoginPage, LoginSessions, list[str]]:
    def connect(token: str) -> DashboardClient:
        if isinstance(fake, Exception):
            raise fake
        return fake

    sessions = LoginSessions(connect)
    opened: list[str] = []
    return LoginPage(sessions, "http://phoenix.test:8000", opened.append), sessions, opened


def test_a_token_the_api_accepts_opens_a_session() -> None:
    fake = FakeClient()
    page, sessions, _ = _login(fake)
    session_id = page.log_in(TOKEN)
    session = sessions.get(session_id)
    assert session is not None and session.client.base_url == fake.base_url
    assert fake.calls == [("experiments_page", (None, 1, None))]


@pytest.mark.parametrize(
    ("problem", "said"),
    [
        (Unauthenticated("The token 'vic' was revoked."), "The API refused this token: "),
        (Forbidden("This needs a user's token."), "This token may not read the API: "),
        (
            ApiUnavailable("Cannot reach the Phoenix API at http://phoenix.test:8000: refused."),
            "Cannot reach the Phoenix API at http://phoenix.test:8000",
        ),
    ],
)
def test_a_refused_token_or_an_unreachable_api_is_said_and_nothing_kept(
    problem: PhoenixError, said: str
) -> None:
    fake = FakeClient()
    fake.fail = problem
    page, sessions, _ = _login(fake)
    with pytest.raises(PhoenixError, match=said) as raised:
        page.log_in(TOKEN)
    assert TOKEN not in str(raised.value)
    assert len(sessions) == 0 and fake.closed


def test_a_malformed_or_missing_token_is_refused_before_any_call() -> None:
    page, _, _ = _login(ConfigurationError("The token is malformed: it holds a space."))
    with pytest.raises(PhoenixError, match="not a user's API token: The token is malformed"):
        page.log_in("phx_u_ nope")
    with pytest.raises(PhoenixError, match="Paste your API token"):
        page.log_in("")


def test_the_submitted_token_is_cleared_from_the_page() -> None:
    page, sessions, opened = _login(FakeClient())
    page.token.value_input = TOKEN
    asyncio.run(page._submit())
    assert page.token.value == "" and page.token.value_input == ""
    assert len(opened) == 1 and sessions.get(opened[0]) is not None
    assert page.message == ""


def test_a_visitor_without_a_login_is_sent_to_the_login_page_and_back() -> None:
    dashboards = Dashboards("http://phoenix.test:8000/", root="/dashboards")
    page = dashboards.experiments()
    actions = [item for item in page if isinstance(item, BrowserActions)]
    assert [a.action for a in actions] == [{"go_to": "/dashboards/login?next=experiments"}]
    assert actions[0].cookie_path == "/dashboards"
    assert dashboards.site == Site("/dashboards", "http://phoenix.test:8000")
    assert Site("", "x").url("experiment", id="1 2") == "/experiment?id=1+2"


def test_browser_actions_set_the_cookie_then_go_on() -> None:
    browser = BrowserActions()
    browser.set_session("abc", "/fleet")
    assert browser.action == {"cookie": "abc", "go_to": "/fleet"}
    browser.clear_session("/login")
    assert browser.action == {"cookie": "", "go_to": "/login"}


def test_every_route_draws_its_page_for_a_login(monkeypatch: pytest.MonkeyPatch) -> None:
    from phoenix_dashboards import serving

    fake = FakeClient(hosts=[host("web-1")])
    dashboards = Dashboards("http://phoenix.test:8000", sessions=LoginSessions(lambda t: fake))
    session = dashboards.sessions.open(fake)
    monkeypatch.setattr(serving, "_cookie", lambda: session.id)

    async def draw_all() -> list[object]:
        return [build() for build in dashboards.routes().values()]

    drawn = asyncio.run(draw_all())
    assert all(isinstance(page, pn.template.BaseTemplate) for page in drawn)
    assert [page.title for page in drawn] == [
        "Phoenix · Fleet", "Phoenix · Fleet", "Phoenix · Experiments",
        "Phoenix · Experiment", "Phoenix · Compare", "Phoenix · Cost", "Phoenix · Cardinality",
        "Phoenix · Log in",
    ]  # fmt: skip


def test_a_page_that_fails_to_build_says_so_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> pn.viewable.Viewable:
        raise KeyError("verdict")

    dashboards = Dashboards("http://127.0.0.1:9")
    dashboards.fleet = broken  # type: ignore[method-assign]
    assert isinstance(dashboards.routes()["/fleet"](), pn.pane.Alert)  # every route is guarded
    shown = guarded(broken)()
    assert isinstance(shown, pn.pane.Alert)
    assert shown.object.startswith("This page could not be drawn: KeyError: 'verdict'.")
    assert "Traceback" not in shown.object and "File " not in shown.object
    failed = [r for r in caplog.records if r.message == "a dashboards page failed to build"]
    assert len(failed) == 2 and all(r.exc_info for r in failed)  # the details are in the log
