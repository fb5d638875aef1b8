"""A small Prometheus HTTP API client (instant queries and series), errors as Phoenix errors."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from phoenix_core.errors import PhoenixError

__all__ = ["MetricsUnavailable", "PrometheusClient", "Sample"]


class MetricsUnavailable(PhoenixError):
    """Prometheus cannot be reached or refuses the query."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


class PrometheusClient:
    def __init__(
        self, base_url: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def instant(self, query: str) -> list[Sample]:
        """The current value of every series ``query`` selects (a vector result)."""
        data = self._get("/api/v1/query", {"query": query})
        if data["resultType"] != "vector":
            raise MetricsUnavailable(f"Query {query!r} gave a {data['resultType']}, not a vector.")
        return [Sample(dict(item["metric"]), float(item["value"][1])) for item in data["result"]]

    def range_samples(self, query: str) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """Every sample in a range-vector ``query`` (``selector[window]``): per series its
        labels and its (timestamp, value) pairs, oldest first."""
        data = self._get("/api/v1/query", {"query": query})
        if data["resultType"] != "matrix":
            raise MetricsUnavailable(f"Query {query!r} gave a {data['resultType']}, not a matrix.")
        return [
            (dict(item["metric"]), [(float(t), float(v)) for t, v in item["values"]])
            for item in data["result"]
        ]

    def _get(self, path: str, params: dict[str, str]) -> dict:  # type: ignore[type-arg]
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise MetricsUnavailable(f"Cannot reach Prometheus at {self.base_url}: {exc}.") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or body.get("status") != "success":
            error = body.get("error") or response.text[:200]
            raise MetricsUnavailable(f"Prometheus refused {params}: {error}")
        return dict(body["data"])

    def close(self) -> None:
        self._client.close()
