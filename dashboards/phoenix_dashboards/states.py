"""Every page's four states, said in words: loading, empty, error, or the content itself."""

from __future__ import annotations

from typing import Any

import panel as pn
import param

__all__ = ["DataState"]


class DataState(pn.viewable.Viewer):
    """Shows ``content`` once there is data; until then, or instead, what is happening."""

    phase: param.Selector[str] = param.Selector(
        default="loading",
        objects=["loading", "empty", "error", "ready"],
        doc="loading: the first answer is awaited; empty: the API has nothing to show; "
        "error: the last call failed (``message`` says why); ready: the content is shown.",
    )
    message = param.String(default="", doc="What the loading, empty or error state says.")

    def __init__(self, content: pn.viewable.Viewable, **params: Any) -> None:
        super().__init__(**params)
        self._loading_text = pn.pane.Markdown(
            "Loading from the Phoenix API…", css_classes=["phoenix-loading"]
        )
        self._loading = pn.Row(
            pn.indicators.LoadingSpinner(value=True, size=24), self._loading_text
        )
        self._error = pn.pane.Alert(object="", alert_type="danger", css_classes=["phoenix-error"])
        self._empty = pn.pane.Alert(object="", alert_type="info", css_classes=["phoenix-empty"])
        self._content = content
        self._layout = pn.Column(
            self._loading, self._error, self._empty, content, sizing_mode="stretch_width"
        )
        self._show()

    def loading(self, message: str = "Loading from the Phoenix API…") -> None:
        self.param.update(phase="loading", message=message)

    def empty(self, message: str) -> None:
        self.param.update(phase="empty", message=message)

    def error(self, message: str) -> None:
        self.param.update(phase="error", message=message)

    def ready(self) -> None:
        self.param.update(phase="ready", message="")

    @param.depends("phase", "message", watch=True)
    def _show(self) -> None:
        self._loading.visible = self.phase == "loading"
        self._error.visible = self.phase == "error"
        self._empty.visible = self.phase == "empty"
        self._content.visible = self.phase == "ready"
        if self.phase == "error":
            self._error.object = self.message
        if self.phase == "empty":
            self._empty.object = self.message
        if self.phase == "loading":
            self._loading_text.object = self.message

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
