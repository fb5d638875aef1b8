"""What a start checks beyond the spec: that the dependencies an experiment needs answer.

Before it is scheduled, an experiment's sink must accept a remote write (an empty one: no
series is written) and the Prometheus the controller reads (keep-lists, measurements) must
answer a query. Either failing refuses the start with the cause, instead of a deploy that
times out two minutes later saying only what it waited for.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from phoenix_core.errors import Conflict, FieldError, ValidationFailed
from phoenix_core.spec import REVEAL_SECRETS, ExperimentSpec

__all__ = ["EMPTY_WRITE", "Preflight"]

EMPTY_WRITE = b"\x00"
"""A remote-write request with no series: an empty protobuf WriteRequest, snappy-compressed
(a block of length 0 is one byte, its varint length)."""
_REMOTE_WRITE_HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "phoenix-preflight",
}


@dataclass(frozen=True)
class Preflight:
    """The checks, against the controller's settings: its default sink and its Prometheus."""

    remote_write_url: str
    prometheus_url: str
    timeout_seconds: float = 5.0

    def check(self, spec: ExperimentSpec) -> None:
        """``ValidationFailed`` naming ``sink.url`` if the sink refuses a write; ``Conflict``
        naming the setting if Phoenix's Prometheus does not answer."""
        self._sink(spec)
        self._prometheus()

    def _sink(self, spec: ExperimentSpec) -> None:
        if spec.sink.kind != "prometheus-remote-write":
            return  # an OTLP sink is not probed (no empty request both sides agree on)
        sink = spec.sink.model_dump(mode="json", context=REVEAL_SECRETS)
        url = sink["url"] or self.remote_write_url
        headers = dict(_REMOTE_WRITE_HEADERS) | dict(sink["headers"] or {})
        if sink["bearer_token"]:
            headers["Authorization"] = f"Bearer {sink['bearer_token']}"
        where = (
            "sink.url" if sink["url"] else "sink.url (unset: PHOENIX_CONTROLLER_REMOTE_WRITE_URL)"
        )
        try:
            answer = httpx.post(
                url, content=EMPTY_WRITE, headers=headers, timeout=self.timeout_seconds
            )
        except httpx.HTTPError as exc:
            raise ValidationFailed(
                [FieldError(("sink", "url"), f"{where}: cannot reach {url}: {exc}")]
            ) from None
        if answer.is_success:
            return
        hint = ""
        if answer.status_code == 404:
            hint = (
                " (a Prometheus receives remote writes only when started with"
                " --web.enable-remote-write-receiver; check the URL's path, /api/v1/write)"
            )
        elif answer.status_code in (401, 403):
            hint = " (check the sink's bearer_token and headers)"
        body = " ".join(answer.text.split())[:200]
        reason = f"{where}: {url} refused a remote write: HTTP {answer.status_code} {body!r}{hint}"
        raise ValidationFailed([FieldError(("sink", "url"), reason)])

    def _prometheus(self) -> None:
        url = f"{self.prometheus_url.rstrip('/')}/api/v1/query"
        setting = "PHOENIX_CONTROLLER_PROMETHEUS_URL"
        try:
            answer = httpx.get(url, params={"query": "vector(1)"}, timeout=self.timeout_seconds)
        except httpx.HTTPError as exc:
            raise Conflict(
                f"Phoenix cannot read measurements: the Prometheus at {self.prometheus_url}"
                f" ({setting}) does not answer: {exc}. Keep-lists and the verdict read it."
            ) from None
        if not answer.is_success:
            raise Conflict(
                f"Phoenix cannot read measurements: the Prometheus at {self.prometheus_url}"
                f" ({setting}) answered a query with HTTP {answer.status_code}."
            )
