"""A client of the Phoenix REST API (used by the CLI, dashboards and notebooks).

Errors come back as the same ``PhoenixError`` classes the server raised, built from its
problem documents: ``ValidationFailed`` keeps the fields at fault.

    PhoenixError
    ├── ApiUnavailable        the API cannot be reached
    ├── Unauthenticated (401), Forbidden (403)
    ├── NotFound (404), Conflict (409), StaleVersion (412), ValidationFailed (422)
    └── ApiError              any other error status
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from phoenix_core.auth import Forbidden, Unauthenticated
from phoenix_core.errors import (
    Conflict,
    FieldError,
    NotFound,
    PhoenixError,
    StaleVersion,
    ValidationFailed,
)

__all__ = ["ApiError", "ApiUnavailable", "ClientSettings", "PhoenixClient"]


class ClientSettings(BaseSettings):
    """Where the API is and who calls it (``PHOENIX_API_URL``, ``PHOENIX_TOKEN``)."""

    model_config = SettingsConfigDict(env_prefix="PHOENIX_", extra="ignore")

    api_url: str = "http://127.0.0.1:8000"
    token: SecretStr | None = None

    def client(self) -> PhoenixClient:
        token = self.token.get_secret_value() if self.token else None
        return PhoenixClient(self.api_url, token)


class ApiUnavailable(PhoenixError):
    """The API cannot be reached."""


class ApiError(PhoenixError):
    """An error status without a more specific meaning."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        super().__init__(f"{detail} (HTTP {status})")


class PhoenixClient:
    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._token = token
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> PhoenixClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(
                f"Cannot reach the Phoenix API at {self.base_url}: {exc}."
            ) from exc
        if response.status_code >= 400:
            raise _error(response)
        return response

    # experiments
    def create_experiment(self, spec: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", "/api/v1/experiments", json=spec).json())

    def list_experiments(self, state: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if state:
            params["state"] = state
        items: list[dict[str, Any]] = []
        while True:
            page = self._call("GET", "/api/v1/experiments", params=params).json()
            items += page["items"]
            if not page["next_cursor"] or len(items) >= limit:
                return items[:limit]
            params["cursor"] = page["next_cursor"]

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/v1/experiments/{experiment_id}").json())

    def start_experiment(self, experiment_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/api/v1/experiments/{experiment_id}/start").json())

    def stop_experiment(self, experiment_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/api/v1/experiments/{experiment_id}/stop").json())

    def dry_run(self, experiment_id: str) -> list[dict[str, Any]]:
        return list(self._call("POST", f"/api/v1/experiments/{experiment_id}/dry-run").json())

    def events(self, experiment_id: str, after: int = 0) -> list[dict[str, Any]]:
        page = self._call(
            "GET", f"/api/v1/experiments/{experiment_id}/events", params={"after": after}
        ).json()
        return list(page["items"])

    def watch(self, experiment_id: str, after: int = 0) -> Iterator[dict[str, Any]]:
        """The experiment's events from the WebSocket: those after ``after``, then live ones."""
        from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI
        from websockets.sync.client import connect

        url = self.base_url.replace("http://", "ws://").replace("https://", "wss://")
        headers = {"Authorization": self._http.headers["Authorization"]} if self._token else {}
        topic = f"experiment:{experiment_id}"
        try:
            with connect(f"{url}/api/v1/ws", additional_headers=headers) as ws:
                ws.send(json.dumps({"type": "subscribe", "topic": topic, "after": after}))
                while True:
                    message = json.loads(ws.recv())
                    if message["type"] == "error":
                        raise ApiError(400, message["data"]["detail"])
                    if message["type"] not in ("subscribed", "unsubscribed"):
                        yield message
        except ConnectionClosed as exc:
            reason = exc.rcvd.reason if exc.rcvd else "closed"
            if exc.rcvd is not None and exc.rcvd.code in (4401, 4403):
                raise (Unauthenticated if exc.rcvd.code == 4401 else Forbidden)(reason) from exc
            raise ApiUnavailable(f"The event stream closed: {reason}.") from exc
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise ApiError(status, "The API refused the event stream") from exc
        except (OSError, InvalidURI) as exc:
            raise ApiUnavailable(
                f"Cannot reach the Phoenix API at {self.base_url}: {exc}."
            ) from exc

    # analysis
    def kpis(self, experiment_id: str, *, samples: bool = False) -> dict[str, Any]:
        params = {"samples": "true"} if samples else {}
        path = f"/api/v1/experiments/{experiment_id}/kpis"
        return dict(self._call("GET", path, params=params).json())

    def verdict(self, experiment_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/v1/experiments/{experiment_id}/verdict").json())

    def cost(
        self,
        experiment_id: str,
        *,
        fleet_hosts: int,
        price_book: str | None = None,
        scrape_interval_seconds: float | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"fleet_hosts": fleet_hosts}
        if price_book is not None:
            params["price_book"] = price_book
        if scrape_interval_seconds is not None:
            params["scrape_interval_seconds"] = scrape_interval_seconds
        path = f"/api/v1/experiments/{experiment_id}/cost"
        return dict(self._call("GET", path, params=params).json())

    def analyse(self, experiment_id: str, source: str = "stored") -> dict[str, Any]:
        """Recompute a completed experiment's analysis (operators); the new verdict."""
        path = f"/api/v1/experiments/{experiment_id}/analysis"
        return dict(self._call("POST", path, json={"source": source}).json())

    # pipelines
    def forecast(self, body: dict[str, Any]) -> dict[str, Any]:
        """The forecast simulator: ``{template, variables, inventory}`` → series before/after."""
        return dict(self._call("POST", "/api/v1/pipelines/forecast", json=body).json())

    # price books
    def price_books(self) -> list[dict[str, Any]]:
        """Every price book, shipped and added (``origin``)."""
        return list(self._call("GET", "/api/v1/price-books").json())

    def price_book(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/v1/price-books/{name}").json())

    def add_price_book(self, book: dict[str, Any]) -> dict[str, Any]:
        """Add a price book (admins); ``ValidationFailed`` names the fields at fault."""
        return dict(self._call("POST", "/api/v1/price-books", json=book).json())

    # hosts
    def hosts(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/api/v1/hosts").json())

    def decommission(self, host_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/api/v1/hosts/{host_id}/decommission").json())


def _error(response: httpx.Response) -> PhoenixError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = str(body.get("detail") or response.text[:200] or response.reason_phrase)
    status = response.status_code
    if status == 422 and body.get("errors"):
        return ValidationFailed([FieldError(e["loc"], e["msg"]) for e in body["errors"]])
    kinds: dict[int, type[PhoenixError]] = {
        401: Unauthenticated,
        403: Forbidden,
        409: Conflict,
        412: StaleVersion,
    }
    if status == 404:
        return NotFound("resource", response.url.path, detail=detail)
    if status in kinds:
        return kinds[status](detail)
    return ApiError(status, detail)
