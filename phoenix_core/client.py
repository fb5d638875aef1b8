"""A client of the Phoenix REST API (used by the CLI, dashboards and notebooks).

Errors come back as the same ``PhoenixError`` classes the server raised, built from its
problem documents: ``ValidationFailed`` keeps the fields at fault.

    PhoenixError
    ├── ConfigurationError    PHOENIX_TOKEN is missing or malformed (checked before any call)
    ├── ApiUnavailable        the API cannot be reached
    ├── Unauthenticated (401), Forbidden (403)
    ├── NotFound (404), Conflict (409), StaleVersion (412), ValidationFailed (422)
    └── ApiError              any other error status
        └── NotPhoenixApi     the URL answers, but not as a Phoenix API (no problem document)

No message ever holds the token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from phoenix_core.auth import Forbidden, Unauthenticated, token_problem
from phoenix_core.errors import (
    ConfigurationError,
    Conflict,
    FieldError,
    NotFound,
    PhoenixError,
    StaleVersion,
    ValidationFailed,
)

__all__ = ["ApiError", "ApiUnavailable", "ClientSettings", "NotPhoenixApi", "PhoenixClient"]

DEFAULT_API_URL = "http://127.0.0.1:8000"
PROBLEM_JSON = "application/problem+json"


class ClientSettings(BaseSettings):
    """Where the API is and who calls it (``PHOENIX_API_URL``, ``PHOENIX_TOKEN``)."""

    model_config = SettingsConfigDict(env_prefix="PHOENIX_", extra="ignore")

    api_url: str = Field(default=DEFAULT_API_URL, description="Base URL of the Phoenix API.")
    token: SecretStr | None = Field(
        default=None, description="A user's token (phx_u_…, from 'phoenix token create')."
    )

    def client(self) -> PhoenixClient:
        """A client of the API; ``ConfigurationError`` naming the variable when the token is
        missing or malformed."""
        if self.token is None:
            raise ConfigurationError(
                f"PHOENIX_TOKEN is not set: commands that go through the API at {self.api_url}"
                " (PHOENIX_API_URL) need a user's token; an admin creates one with"
                " 'phoenix token create NAME --role viewer' on the server."
            )
        return PhoenixClient(
            self.api_url,
            self.token.get_secret_value(),
            url_setting="PHOENIX_API_URL",
            token_setting="PHOENIX_TOKEN",  # noqa: S106 - a variable's name
        )


class ApiUnavailable(PhoenixError):
    """The API cannot be reached."""


class ApiError(PhoenixError):
    """An error status without a more specific meaning."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        super().__init__(f"{detail} (HTTP {status})")


class NotPhoenixApi(ApiError):
    """The URL answers, but not as a Phoenix API does (an error without a problem document, or
    a success that is not JSON): a wrong host, port or path."""


class PhoenixClient:
    """``url_setting`` and ``token_setting`` name where the URL and token came from (the
    CLI's ``PHOENIX_API_URL`` and ``PHOENIX_TOKEN``), for the messages that blame them."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        url_setting: str | None = None,
        token_setting: str | None = None,
    ) -> None:
        token_name = token_setting or "The token"
        if token is not None and (problem := token_problem(token)):
            raise ConfigurationError(f"{token_name} is malformed: {problem}.")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._token = token
        self._token_setting = token_setting
        self.base_url = base_url.rstrip("/")
        self._where = f"{self.base_url} ({url_setting})" if url_setting else self.base_url
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
                f"Cannot reach the Phoenix API at {self._where}: {self._hide(str(exc))}."
            ) from exc
        if response.status_code >= 400:
            raise self._error(response)
        kind = response.headers.get("content-type", "")
        if response.content and not kind.startswith("application/json"):
            raise NotPhoenixApi(
                response.status_code,
                f"{self._where} is not a Phoenix API: {method} {path} answered"
                f" {kind or 'no content type'}, not JSON",
            )
        return response

    def _hide(self, text: str) -> str:
        return text.replace(self._token, "phx_…") if self._token else text

    def _error(self, response: httpx.Response) -> PhoenixError:
        kind = response.headers.get("content-type", "")
        status = response.status_code
        if not kind.startswith(PROBLEM_JSON) and status not in (502, 503, 504):
            snippet = " ".join(response.text[:80].split())
            said = f"{status} {response.reason_phrase}" + (f' ("{snippet}")' if snippet else "")
            request = response.request
            return NotPhoenixApi(
                status,
                f"{self._where} is not a Phoenix API: {request.method} {request.url.path}"
                f" answered {self._hide(said)}, not a problem document; check the URL",
            )
        error = _error(response)
        if isinstance(error, Unauthenticated) and self._token_setting:
            return Unauthenticated(f"{str(error).rstrip('.')} ({self._token_setting}).")
        return error

    # experiments
    def create_experiment(self, spec: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", "/api/v1/experiments", json=spec).json())

    def list_experiments(self, state: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.experiments_page(state=state, limit=limit, cursor=cursor)
            items += page["items"]
            if not page["next_cursor"] or len(items) >= limit:
                return items[:limit]
            cursor = page["next_cursor"]

    def experiments_page(
        self, *, state: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of summaries, newest first: ``{items, next_cursor}``; pass ``next_cursor``
        back as ``cursor`` for the page after it."""
        params: dict[str, Any] = {"limit": limit}
        if state:
            params["state"] = state
        if cursor:
            params["cursor"] = cursor
        return dict(self._call("GET", "/api/v1/experiments", params=params).json())

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/v1/experiments/{experiment_id}").json())

    def start_experiment(self, experiment_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/api/v1/experiments/{experiment_id}/start").json())

    def stop_experiment(self, experiment_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/api/v1/experiments/{experiment_id}/stop").json())

    def dry_run(self, experiment_id: str) -> dict[str, Any]:
        """``{plans, forecast, warnings}``: every variant rendered for every host, each
        variant's forecast series, and where a candidate cannot save anything."""
        return dict(self._call("POST", f"/api/v1/experiments/{experiment_id}/dry-run").json())

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
                f"Cannot reach the Phoenix API at {self._where}: {self._hide(str(exc))}."
            ) from exc

    # analysis
    def kpis(self, experiment_id: str, *, samples: bool = False) -> dict[str, Any]:
        params = {"samples": "true"} if samples else {}
        path = f"/api/v1/experiments/{experiment_id}/kpis"
        return dict(self._call("GET", path, params=params).json())

    def verdict(self, experiment_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/v1/experiments/{experiment_id}/verdict").json())

    def guardrail(self, experiment_id: str) -> dict[str, Any]:
        """The query guardrail's findings: per candidate, every usage query and its outcome."""
        return dict(self._call("GET", f"/api/v1/experiments/{experiment_id}/guardrail").json())

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

    # the receiving store
    def cardinality(
        self,
        selector: str | None = None,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        limit: int | None = None,
        timeout: float = 300.0,
    ) -> dict[str, Any]:
        """The inventory of the series ``selector`` matches in Phoenix's Prometheus over
        ``[start, end]`` (defaults: every series, the last hour): totals, churn, and the
        ``metrics``, ``labels`` and ``pairs`` tables (``Inventory.from_answer`` makes
        DataFrames of them). A large store takes seconds: ``timeout`` is longer than calls'."""
        params: dict[str, Any] = {}
        for name, value in (("selector", selector), ("start", start), ("end", end)):
            if value is not None:
                params[name] = value.isoformat() if isinstance(value, datetime) else value
        if limit is not None:
            params["limit"] = limit
        response = self._call("GET", "/api/v1/cardinality", params=params, timeout=timeout)
        return dict(response.json())

    # recommendations
    def recommendations(
        self,
        selector: str | None = None,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        usage_sources: Sequence[str] | None = None,
        critical_selectors: Sequence[str] | None = None,
        collector: str | None = None,
        price_book: str | None = None,
        fleet_hosts: int | None = None,
        scrape_interval_seconds: float | None = None,
        top_k: int | None = None,
        limit: int | None = None,
        accept_incomplete_usage: bool = False,
        timeout: float = 300.0,
    ) -> dict[str, Any]:
        """Reductions for the series ``selector`` matches over ``[start, end]`` (defaults:
        every series, the last hour), from the usage of ``usage_sources`` (default: every
        source's latest version), ranked by monthly savings under ``price_book`` on
        ``fleet_hosts`` hosts: ``recommendations`` (each with its forecast, savings, usage
        evidence, critical selectors and pipeline) and ``refusals`` (what was considered and
        why not). ``accept_incomplete_usage``: recommend from the queries that parsed even when
        some did not (``usage_warning`` and each recommendation's ``usage.warning`` say which
        failed). It takes an inventory of the store: ``timeout`` is longer than calls'."""
        params: dict[str, Any] = {}
        for name, value in (("selector", selector), ("start", start), ("end", end)):
            if value is not None:
                params[name] = value.isoformat() if isinstance(value, datetime) else value
        if usage_sources is not None:
            params["usage_sources"] = ",".join(usage_sources)
        if critical_selectors:
            params["critical_selectors"] = list(critical_selectors)
        for name, given in (
            ("collector", collector),
            ("price_book", price_book),
            ("fleet_hosts", fleet_hosts),
            ("scrape_interval_seconds", scrape_interval_seconds),
            ("top_k", top_k),
            ("limit", limit),
        ):
            if given is not None:
                params[name] = given
        if accept_incomplete_usage:
            params["accept_incomplete_usage"] = "true"
        response = self._call("GET", "/api/v1/recommendations", params=params, timeout=timeout)
        return dict(response.json())

    def recommendation(self, recommendation_id: str) -> dict[str, Any]:
        """One recommendation as last computed."""
        path = f"/api/v1/recommendations/{_segment(recommendation_id)}"
        return dict(self._call("GET", path).json())

    def experiment_from_recommendation(
        self,
        recommendation_id: str,
        *,
        hosts: Sequence[str] | None = None,
        host_selector: dict[str, str] | None = None,
        name: str | None = None,
        description: str | None = None,
        sources: Sequence[dict[str, Any]] | None = None,
        sink: dict[str, Any] | None = None,
        warmup_seconds: float | None = None,
        duration_seconds: float | None = None,
    ) -> dict[str, Any]:
        """A draft experiment (operators): the baseline against the recommended pipeline on
        ``hosts`` or ``host_selector``, scraping where the series came from (or ``sources``),
        with the recommendation's critical selectors and usage sources; the record, as
        ``create_experiment`` answers it. ``start_experiment`` starts it as it is."""
        body: dict[str, Any] = {
            key: value
            for key, value in (
                ("hosts", list(hosts) if hosts is not None else None),
                ("host_selector", host_selector),
                ("name", name),
                ("description", description),
                ("sources", list(sources) if sources is not None else None),
                ("sink", sink),
                ("warmup_seconds", warmup_seconds),
                ("duration_seconds", duration_seconds),
            )
            if value is not None
        }
        path = f"/api/v1/recommendations/{_segment(recommendation_id)}/experiment"
        return dict(self._call("POST", path, json=body).json())

    # pipelines
    def templates(self) -> list[dict[str, Any]]:
        """The newest version of every pipeline template: name, version, description, variables."""
        return list(self._call("GET", "/api/v1/pipelines/templates").json())

    def template(self, name: str, version: int | None = None) -> dict[str, Any]:
        """One template: its typed variables (defaults, bounds) and steps."""
        params = {"version": version} if version is not None else {}
        path = f"/api/v1/pipelines/templates/{name}"
        return dict(self._call("GET", path, params=params).json())

    def render(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{template, variables, collector, reference?}`` → the complete collector config."""
        return dict(self._call("POST", "/api/v1/pipelines/render", json=body).json())

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

    # usage sources
    def add_usage_source(self, name: str, kind: str, content: str) -> dict[str, Any]:
        """Upload a rule file, Grafana dashboard or query list (``kind`` ``rules``,
        ``dashboard`` or ``queries``; ``content`` the file's text) as the next version of the
        source ``name`` (operators). ``created`` is False when the latest version holds this
        content already; ``problems`` lists the queries not read, with their sources."""
        body = {"name": name, "kind": kind, "content": content}
        return dict(self._call("POST", "/api/v1/usage-sources", json=body).json())

    def usage_sources(self) -> list[dict[str, Any]]:
        """Every usage source with its latest version."""
        return list(self._call("GET", "/api/v1/usage-sources").json())

    def usage_source(self, name: str) -> dict[str, Any]:
        """One usage source and every version of it (``versions``, oldest first)."""
        return dict(self._call("GET", f"/api/v1/usage-sources/{_segment(name)}").json())

    def usage_queries(self, name: str, version: int | None = None) -> dict[str, Any]:
        """Every query of a version of the source (default: the latest): ``records``, each
        with its ``source``, ``status`` (ok, error, skipped), ``message`` and ``uses``."""
        params = {"version": version} if version is not None else {}
        path = f"/api/v1/usage-sources/{_segment(name)}/queries"
        return dict(self._call("GET", path, params=params).json())

    def usage(
        self, sources: Sequence[str] | None = None, metric: str | None = None
    ) -> dict[str, Any]:
        """Who reads which metric, over the latest version of every source or of ``sources``
        (``name`` or ``name@version``); with ``metric``, that metric's row alone."""
        params: dict[str, Any] = {}
        if sources is not None:
            params["sources"] = ",".join(sources)
        if metric is not None:
            params["metric"] = metric
        return dict(self._call("GET", "/api/v1/usage", params=params).json())

    def delete_usage_source(self, name: str) -> None:
        """Delete a usage source and all its versions (admins)."""
        self._call("DELETE", f"/api/v1/usage-sources/{_segment(name)}")

    # the caller
    def whoami(self) -> dict[str, Any]:
        """The token's name, kind, role, expiry and the roles whose routes it may use."""
        return dict(self._call("GET", "/api/v1/whoami").json())

    # hosts
    def hosts(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/api/v1/hosts").json())

    def collectors(self) -> list[dict[str, Any]]:
        """The collectors of the experiments that hold hosts now, with their status and
        restarts as each agent last reported them."""
        return list(self._call("GET", "/api/v1/collectors").json())

    def decommission(self, host_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/api/v1/hosts/{host_id}/decommission").json())


def _segment(name: str) -> str:
    """``name`` as one path segment."""
    return quote(name, safe="")


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
