"""What the server asks the browser to do: set or clear the session cookie, then go to a page.

A Panel page cannot set a cookie on its HTTP response (its content arrives over a WebSocket),
so ``BrowserActions``, an invisible component on every page, does it in the browser when the
server sets its ``action`` (at once if the page is built with one: a redirect to the login).
The cookie holds only the session id, never the token.
"""

from __future__ import annotations

from typing import Any

import param
from panel.custom import JSComponent

from phoenix_dashboards.sessions import IDLE_SECONDS, SESSION_COOKIE

__all__ = ["BrowserActions"]


class BrowserActions(JSComponent):
    """Invisible; ``set_session``, ``clear_session`` and ``go_to`` act in the browser."""

    action = param.Dict(
        default={},
        doc="What to do, in order: 'cookie' (a session id to store; '' to clear it), then "
        "'go_to' (a URL to navigate to). Each new value acts once.",
    )
    cookie_path = param.String(default="/", doc="The path the session cookie is sent to.")

    _esm = f"""
    export function render({{ model }}) {{
      function act() {{
        const action = model.action || {{}}
        if (typeof action.cookie === "string") {{
          const secure = window.location.protocol === "https:" ? "; Secure" : ""
          const age = action.cookie ? {int(IDLE_SECONDS)} : 0
          document.cookie = `{SESSION_COOKIE}=${{action.cookie}}; path=${{model.cookie_path}}` +
            `; max-age=${{age}}; SameSite=Strict${{secure}}`
        }}
        if (action.go_to) {{
          window.location.assign(action.go_to)
        }}
      }}
      model.on("action", act)
      act()
      return document.createElement("span")
    }}
    """

    def __init__(self, **params: Any) -> None:
        super().__init__(width=0, height=0, margin=0, **params)

    def go_to(self, url: str) -> None:
        """Navigate to ``url`` (relative to the page, or absolute)."""
        self.action = {"go_to": url}

    def set_session(self, session_id: str, then_go_to: str) -> None:
        """Store the session id in the cookie, then navigate."""
        self.action = {"cookie": session_id, "go_to": then_go_to}

    def clear_session(self, then_go_to: str) -> None:
        """Remove the session cookie, then navigate."""
        self.action = {"cookie": "", "go_to": then_go_to}
