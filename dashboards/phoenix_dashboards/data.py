"""What the dashboards read from the REST API, and the cache in front of it.

``DashboardClient`` is the part of ``phoenix_core.client.PhoenixClient`` the pages call (the
real client satisfies it as it is; the unit tests' fake implements it too). ``CachedClient``
wraps one per login session: the pages and tabs of one login share its answers for a few
seconds, and identical calls made together share one request. Errors are never cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from phoenix_core.auth import Unauthenticated
from phoenix_core.client import PhoenixClient

__all__ = ["CACHE_SECONDS", "CachedClient", "DashboardClient", "connect"]

CACHE_SECONDS = 5.0
"""How long an answer is reused: shorter than any page's refresh, longer than one page's
burst of calls (a page of experiments reads each row's verdict and cost)."""
TIMEOUT_SECONDS = 10.0
"""A call the dashboards make gives up after this long (a page says the API does not answer)."""

T = TypeVar("T")


class DashboardClient(Protocol):
    """The REST calls the pages make (``PhoenixClient``'s own signatures)."""

    base_url: str

    def hosts(self) -> list[dict[str, Any]]: ...

    def collectors(self) -> list[dict[str, Any]]: ...

    def experiments_page(
        self, *, state: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]: ...

    def experiment(self, experiment_id: str) -> dict[str, Any]: ...

    def verdict(self, experiment_id: str) -> dict[str, Any]: ...

    def cost(
        self,
        experiment_id: str,
        *,
        fleet_hosts: int,
        price_book: str | None = None,
        scrape_interval_seconds: float | None = None,
    ) -> dict[str, Any]: ...

    # the Experiment detail page's
    def kpis(self, experiment_id: str, *, samples: bool = False) -> dict[str, Any]: ...

    def guardrail(self, experiment_id: str) -> dict[str, Any]: ...

    def events(self, experiment_id: str, after: int = 0) -> list[dict[str, Any]]: ...

    def price_books(self) -> list[dict[str, Any]]: ...

    def whoami(self) -> dict[str, Any]: ...

    def start_experiment(self, experiment_id: str) -> dict[str, Any]: ...

    def stop_experiment(self, experiment_id: str) -> dict[str, Any]: ...

    def analyse(self, experiment_id: str, source: str = "stored") -> dict[str, Any]: ...

    # the Cardinality explorer's
    def cardinality(
        self,
        selector: str | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]: ...

    def usage(
        self, sources: Sequence[str] | None = None, metric: str | None = None
    ) -> dict[str, Any]: ...

    def recommendations(
        self,
        selector: str | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
        critical_selectors: Sequence[str] | None = None,
        collector: str | None = None,
        price_book: str | None = None,
        fleet_hosts: int | None = None,
        scrape_interval_seconds: float | None = None,
        top_k: int | None = None,
    ) -> dict[str, Any]: ...

    def experiment_from_recommendation(
        self,
        recommendation_id: str,
        *,
        hosts: Sequence[str] | None = None,
        host_selector: dict[str, str] | None = None,
    ) -> dict[str, Any]: ...

    def close(self) -> None: ...


def connect(api_url: str, token: str) -> DashboardClient:
    """The real client of the API at ``api_url`` with a user's ``token``;
    ``ConfigurationError`` when the token is malformed (no call made)."""
    return PhoenixClient(api_url, token, timeout=TIMEOUT_SECONDS)


@dataclass
class _Entry:
    until: float
    value: Any


class CachedClient:
    """A ``DashboardClient`` whose answers are reused for ``ttl_seconds``."""

    def __init__(
        self,
        client: DashboardClient,
        ttl_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[Hashable, _Entry] = {}
        self._fetching: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self.base_url = client.base_url
        self.calls = 0
        """Calls that reached the API (a cached answer is not one)."""
        self.closed = False

    def _cached(self, key: Hashable, fetch: Callable[[], T]) -> T:
        if self.closed:  # its login ended (another page of it met a refused token)
            raise Unauthenticated("This login has ended: log in again.")
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.until > self._clock():
                return entry.value  # type: ignore[no-any-return]
            single = self._fetching.setdefault(key, threading.Lock())
        with single:  # one request per key at a time: the others wait for its answer
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and entry.until > self._clock():
                    return entry.value  # type: ignore[no-any-return]
            value = fetch()
            with self._lock:
                self.calls += 1
                self._entries[key] = _Entry(self._clock() + self._ttl, value)
                self._drop_expired()
            return value

    def _drop_expired(self) -> None:
        now = self._clock()
        for key in [k for k, e in self._entries.items() if e.until <= now]:
            del self._entries[key]
            self._fetching.pop(key, None)

    def clear(self) -> None:
        """Forget every answer (the next call of each asks the API)."""
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        self.closed = True
        self.clear()
        self._client.close()

    def hosts(self) -> list[dict[str, Any]]:
        return self._cached(("hosts",), self._client.hosts)

    def collectors(self) -> list[dict[str, Any]]:
        return self._cached(("collectors",), self._client.collectors)

    def experiments_page(
        self, *, state: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        return self._cached(
            ("experiments", state, limit, cursor),
            lambda: self._client.experiments_page(state=state, limit=limit, cursor=cursor),
        )

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        return self._cached(
            ("experiment", experiment_id), lambda: self._client.experiment(experiment_id)
        )

    def verdict(self, experiment_id: str) -> dict[str, Any]:
        return self._cached(("verdict", experiment_id), lambda: self._client.verdict(experiment_id))

    def cost(
        self,
        experiment_id: str,
        *,
        fleet_hosts: int,
        price_book: str | None = None,
        scrape_interval_seconds: float | None = None,
    ) -> dict[str, Any]:
        return self._cached(
            ("cost", experiment_id, fleet_hosts, price_book, scrape_interval_seconds),
            lambda: self._client.cost(
                experiment_id,
                fleet_hosts=fleet_hosts,
                price_book=price_book,
                scrape_interval_seconds=scrape_interval_seconds,
            ),
        )

    def kpis(self, experiment_id: str, *, samples: bool = False) -> dict[str, Any]:
        return self._cached(
            ("kpis", experiment_id, samples),
            lambda: self._client.kpis(experiment_id, samples=samples),
        )

    def guardrail(self, experiment_id: str) -> dict[str, Any]:
        return self._cached(
            ("guardrail", experiment_id), lambda: self._client.guardrail(experiment_id)
        )

    def events(self, experiment_id: str, after: int = 0) -> list[dict[str, Any]]:
        return self._cached(
            ("events", experiment_id, after), lambda: self._client.events(experiment_id, after)
        )

    def price_books(self) -> list[dict[str, Any]]:
        return self._cached(("price_books",), self._client.price_books)

    def cardinality(
        self,
        selector: str | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        return self._cached(
            ("cardinality", selector, start, end, limit),
            lambda: self._client.cardinality(selector, start=start, end=end, limit=limit),
        )

    def usage(
        self, sources: Sequence[str] | None = None, metric: str | None = None
    ) -> dict[str, Any]:
        key = ("usage", tuple(sources) if sources is not None else None, metric)
        return self._cached(key, lambda: self._client.usage(sources, metric))

    def recommendations(
        self,
        selector: str | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
        critical_selectors: Sequence[str] | None = None,
        collector: str | None = None,
        price_book: str | None = None,
        fleet_hosts: int | None = None,
        scrape_interval_seconds: float | None = None,
        top_k: int | None = None,
    ) -> dict[str, Any]:
        critical = tuple(critical_selectors) if critical_selectors else None
        key = ("recommendations", selector, start, end, critical, collector, price_book,
               fleet_hosts, scrape_interval_seconds, top_k)  # fmt: skip
        return self._cached(
            key,
            lambda: self._client.recommendations(
                selector,
                start=start,
                end=end,
                critical_selectors=critical,
                collector=collector,
                price_book=price_book,
                fleet_hosts=fleet_hosts,
                scrape_interval_seconds=scrape_interval_seconds,
                top_k=top_k,
            ),
        )

    def experiment_from_recommendation(
        self,
        recommendation_id: str,
        *,
        hosts: Sequence[str] | None = None,
        host_selector: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return self._act(
            lambda: self._client.experiment_from_recommendation(
                recommendation_id, hosts=hosts, host_selector=host_selector
            )
        )

    def whoami(self) -> dict[str, Any]:
        return self._cached(("whoami",), self._client.whoami)

    def start_experiment(self, experiment_id: str) -> dict[str, Any]:
        return self._act(lambda: self._client.start_experiment(experiment_id))

    def stop_experiment(self, experiment_id: str) -> dict[str, Any]:
        return self._act(lambda: self._client.stop_experiment(experiment_id))

    def analyse(self, experiment_id: str, source: str = "stored") -> dict[str, Any]:
        return self._act(lambda: self._client.analyse(experiment_id, source))

    def _act(self, call: Callable[[], T]) -> T:
        if self.closed:
            raise Unauthenticated("This login has ended: log in again.")
        try:
            return call()
        finally:
            self.clear()


def _conforms(client: PhoenixClient, cached: CachedClient) -> tuple[DashboardClient, ...]:
    """For the type checker: both clients are ``DashboardClient``s."""
    return client, cached
