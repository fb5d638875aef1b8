"""The login page: a user's API token in, a session out (its id in a cookie, the token kept on
the server). The token is checked with one call the lowest role may make; a refusal, a
malformed token or an unreachable API is said in words, and nothing is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import panel as pn
import param

from phoenix_core.auth import Forbidden, Unauthenticated
from phoenix_core.errors import ConfigurationError, PhoenixError
from phoenix_dashboards.sessions import LoginSessions

__all__ = ["LoginPage"]


class LoginPage(pn.viewable.Viewer):
    """Asks for the token; on success ``logged_in(session_id)`` (the browser goes on)."""

    title = "Log in"
    reason = param.String(default="", doc="Why the user was sent here (a session that ended).")
    message = param.String(default="", doc="What the last attempt met, if it failed.")
    busy = param.Boolean(default=False, doc="A token is being checked.")

    def __init__(
        self,
        sessions: LoginSessions,
        api_url: str,
        logged_in: Callable[[str], None],
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self._sessions = sessions
        self._api_url = api_url
        self._logged_in = logged_in
        self.token = pn.widgets.PasswordInput(
            label="API token", placeholder="phx_u_…", width=420, css_classes=["phoenix-token"]
        )
        self.submit = pn.widgets.Button(label="Log in", color="primary", width=120)
        self.submit.on_click(self._submit)
        self._reason = pn.pane.Alert(object=self.param.reason, alert_type="warning",
                                  visible=self.param.reason.rx.bool())  # fmt: skip
        self._message = pn.pane.Alert(object=self.param.message, alert_type="danger",
                                   visible=self.param.message.rx.bool(),
                                   css_classes=["phoenix-login-error"])  # fmt: skip
        self._layout = pn.Column(
            pn.pane.Markdown("## Log in to the Phoenix dashboards"),
            self._reason,
            pn.pane.Markdown(
                f"The dashboards read the Phoenix API at `{api_url}` with your token, as the "
                "`phoenix` command line does. An admin creates one with "
                "`phoenix token create NAME --role viewer`. It is kept on this server for "
                "your session, never in the page's address.",
                width=560,
            ),
            self.token,
            self.submit,
            self._message,
            width=600,
        )

    async def _submit(self, event: object = None) -> None:
        token = self.token.value_input or self.token.value or ""
        self.token.param.update(value="", value_input="")  # not left in the browser's page
        if self.busy:
            return
        self.busy = True
        self.submit.disabled = True
        try:
            session_id = await asyncio.to_thread(self.log_in, token.strip())
        except PhoenixError as exc:
            self.message = str(exc)
        else:
            self.message = ""
            self._logged_in(session_id)
        finally:
            self.busy = False
            self.submit.disabled = False

    def log_in(self, token: str) -> str:
        """Check ``token`` with the API and open a session; its id. ``PhoenixError`` saying
        why not (the token itself is never in a message)."""
        if not token:
            raise PhoenixError("Paste your API token (phx_u_…) first.")
        try:
            client = self._sessions.client_for(token)
        except ConfigurationError as exc:
            raise PhoenixError(f"This is not a user's API token: {exc}") from None
        try:
            client.experiments_page(limit=1)  # any role may: the token's own check
        except Unauthenticated as exc:
            client.close()
            raise PhoenixError(f"The API refused this token: {exc}") from None
        except Forbidden as exc:
            client.close()
            raise PhoenixError(f"This token may not read the API: {exc}") from None
        except PhoenixError:
            client.close()
            raise
        return self._sessions.open(client).id

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
