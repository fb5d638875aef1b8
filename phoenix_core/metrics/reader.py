"""Reading the receiving Prometheus into pandas, on prometheus-api-client (issue 20).

``PrometheusReader`` runs instant and range queries (``PrometheusConnect.custom_query`` and
``custom_query_range``) with a timeout on both ends (the HTTP request, and Prometheus' own
``timeout`` parameter so it stops evaluating too), and returns long DataFrames: one column per
label, then ``timestamp`` (UTC) and ``value``, one row per sample. It also reads the index:
the label names and a label's values among the series a selector matches (``label_names``,
``label_values``), which need no samples.

"No data" is never zero: a query that matches nothing gives an empty frame (with the
``timestamp`` and ``value`` columns), and a sample Prometheus computes as NaN (0/0) stays NaN;
``has_data`` tells either apart from a real 0.

Errors, every one naming the query:

    MetricsUnavailable
    ├── Prometheus cannot be reached, or does not answer within the timeout
    ├── Prometheus refuses the query (a PromQL error, an HTTP error status)
    └── the answer is not a Prometheus API answer
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import orjson
import pandas as pd
import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from phoenix_core.errors import PhoenixError
from phoenix_core.metrics.derived import TIMESTAMP

__all__ = [
    "SAMPLE_COLUMNS",
    "MetricsReader",
    "MetricsUnavailable",
    "PrometheusReader",
    "StaticReader",
    "has_data",
    "to_frame",
]


class MetricsUnavailable(PhoenixError):
    """Prometheus cannot be reached, refuses the query, or answers something unreadable."""


SAMPLE_COLUMNS = ("timestamp", "value")
"""The columns after the labels in every frame the reader returns."""


def has_data(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` holds at least one real number (not only NaN, not empty)."""
    return bool(len(frame)) and bool(frame["value"].notna().any())


def to_frame(result: Any) -> pd.DataFrame:
    """A Prometheus API ``result`` (vector, matrix or scalar) as a long frame: the labels as
    columns (``""`` where a series lacks one), ``timestamp`` (UTC) and ``value`` (float)."""
    rows: list[dict[str, Any]] = []
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        rows.append({"timestamp": float(result[0]), "value": float(result[1])})  # a scalar
    else:
        for item in result:
            metric = dict(item["metric"])
            points = item["values"] if "values" in item else [item["value"]]
            rows += [{**metric, "timestamp": float(t), "value": float(v)} for t, v in points]
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame({"timestamp": pd.Series(dtype=float), "value": pd.Series(dtype=float)})
    labels = sorted(c for c in frame.columns if c not in SAMPLE_COLUMNS)
    frame[labels] = frame[labels].fillna("")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="s", utc=True).astype(TIMESTAMP)
    frame["value"] = frame["value"].astype(float)
    return frame[[*labels, *SAMPLE_COLUMNS]].reset_index(drop=True)


class MetricsReader(Protocol):
    """What measuring needs of a Prometheus: ``PrometheusReader``, or ``StaticReader`` in
    unit tests."""

    def instant(self, query: str, at: datetime | None = None) -> pd.DataFrame: ...

    def range(self, query: str, start: datetime, end: datetime, step: float) -> pd.DataFrame: ...

    def close(self) -> None:
        """Release connections; the reader is not used after."""


class StaticReader:
    """An in-memory reader: ``answer(query)`` gives each query's result as a Prometheus API
    ``result`` (a list of ``{"metric": …, "values": […]}`` or ``{"metric": …, "value": …}``),
    turned into a frame as ``PrometheusReader`` would; every query asked is kept in ``asked``."""

    def __init__(self, answer: Callable[[str], Any]) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def instant(self, query: str, at: datetime | None = None) -> pd.DataFrame:
        self.asked.append(query)
        return to_frame(self.answer(query))

    def range(self, query: str, start: datetime, end: datetime, step: float) -> pd.DataFrame:
        self.asked.append(query)
        return to_frame(self.answer(query))

    def close(self) -> None:
        """Nothing to release."""


class PrometheusReader:
    """Instant and range queries against one Prometheus, as pandas.

    ``timeout`` (seconds) bounds each request; ``retries`` retries connection errors and
    502/503/504 answers with a short backoff (prometheus-api-client's default waits seconds).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        retries: int = 2,
        headers: dict[str, str] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        retry = Retry(
            total=retries,
            backoff_factor=0.2,
            status_forcelist=(502, 503, 504),
            allowed_methods=None,
            raise_on_status=False,
        )
        self._session = session or requests.Session()
        self._headers = headers
        options: dict[str, Any] = {"retry": retry, "timeout": timeout, "session": self._session}
        if headers is not None:
            options["headers"] = headers
        self._connect = PrometheusConnect(url=self.base_url, **options)

    def instant(self, query: str, at: datetime | None = None) -> pd.DataFrame:
        """``query`` evaluated at ``at`` (now by default): one row per series (or per sample,
        for a range-vector query such as ``m[5m]``)."""
        params = self._params()
        if at is not None:
            params["time"] = _unix(at)
        return self._run(query, lambda: self._connect.custom_query(query, params=params))

    def instant_series(
        self, query: str, at: datetime | None = None
    ) -> tuple[list[dict[str, str]], list[float]]:
        """An instant vector's series: each one's labels and value. Sent as a form (a long
        query fits) and decoded by orjson: a large answer (100,000 series, tens of MB) costs a
        fraction of what ``instant``'s frame of every sample does."""
        form = {"query": query, **self._params()}
        if at is not None:
            form["time"] = f"{_unix(at):.3f}"

        def call() -> Any:
            url = f"{self.base_url}/api/v1/query"
            answer = self._session.post(url, data=form, headers=self._headers, timeout=self.timeout)
            if answer.status_code != 200:
                raise PrometheusApiClientException(
                    f"HTTP Status Code {answer.status_code} ({answer.content!r})"
                )
            data = orjson.loads(answer.content)["data"]
            if data["resultType"] != "vector":
                raise ValueError(f"a {data['resultType']}, not an instant vector")
            return data["result"]

        result = self._ask(f"query {query!r}", call)
        return [item["metric"] for item in result], [float(item["value"][1]) for item in result]

    def range(self, query: str, start: datetime, end: datetime, step: float) -> pd.DataFrame:
        """``query`` evaluated every ``step`` seconds from ``start`` to ``end`` (whole seconds,
        as prometheus-api-client sends them): one row per series and point."""
        if not (math.isfinite(step) and step > 0):
            raise ValueError(f"step must be a positive number of seconds, not {step!r}")

        def call() -> Any:
            return self._connect.custom_query_range(
                query, start_time=start, end_time=end, step=f"{step:g}s", params=self._params()
            )

        return self._run(query, call)

    def label_names(self, start: datetime, end: datetime, match: str | None = None) -> list[str]:
        """The label names of the series (matching ``match``, a series selector) in the blocks
        that overlap ``start``–``end``: from the index, a superset of those with a sample in
        the window."""
        params = self._index_params(start, end, match)
        what = f"the label names of {match or 'every series'}"
        return [
            str(name) for name in self._ask(what, lambda: self._connect.get_label_names(params))
        ]

    def label_values(
        self, label: str, start: datetime, end: datetime, match: str | None = None
    ) -> list[str]:
        """The values of ``label`` (among the series matching ``match``) in the blocks that
        overlap ``start``–``end``: from the index, as ``label_names``."""
        params = self._index_params(start, end, match)
        what = f"the values of label {label} of {match or 'every series'}"
        answer = self._ask(what, lambda: self._connect.get_label_values(label, params))
        return [str(value) for value in answer]

    def flags(self) -> dict[str, str] | None:
        """The store's command-line flags (``/api/v1/status/flags``), or None where the store
        does not offer them (404)."""

        def call() -> Any:
            url = f"{self.base_url}/api/v1/status/flags"
            answer = self._session.get(url, headers=self._headers, timeout=self.timeout)
            if answer.status_code == 404:
                return None
            if answer.status_code != 200:
                raise PrometheusApiClientException(
                    f"HTTP Status Code {answer.status_code} ({answer.content!r})"
                )
            return answer.json()["data"]

        flags = self._ask("its flags", call)
        return None if flags is None else {str(k): str(v) for k, v in flags.items()}

    def _params(self) -> dict[str, Any]:
        return {"timeout": f"{self.timeout:g}s"}

    def _index_params(self, start: datetime, end: datetime, match: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"start": f"{_unix(start):.3f}", "end": f"{_unix(end):.3f}"}
        if match is not None:
            params["match[]"] = match
        return params

    def _run(self, query: str, call: Any) -> pd.DataFrame:
        result = self._ask(f"query {query!r}", call)
        try:
            return to_frame(result)
        except (ValueError, KeyError, TypeError) as exc:
            raise MetricsUnavailable(
                f"Prometheus at {self.base_url} gave an answer to query {query!r} that is not "
                f"a vector, matrix or scalar: {exc}."
            ) from exc

    def _ask(self, what: str, call: Any) -> Any:
        """``call()``'s answer; every failure as ``MetricsUnavailable`` naming ``what``."""
        try:
            return call()
        except requests.Timeout as exc:
            raise MetricsUnavailable(
                f"Prometheus at {self.base_url} did not answer {what} within {self.timeout:g} s."
            ) from exc
        except requests.RequestException as exc:
            raise MetricsUnavailable(
                f"Cannot reach Prometheus at {self.base_url} for {what}: {exc}."
            ) from exc
        except PrometheusApiClientException as exc:
            raise MetricsUnavailable(
                f"Prometheus at {self.base_url} refused {what}: {_refusal(exc)}."
            ) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise MetricsUnavailable(
                f"Prometheus at {self.base_url} gave no readable answer to {what}: {exc}."
            ) from exc

    def close(self) -> None:
        self._connect.close()

    def __enter__(self) -> PrometheusReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unix(at: datetime) -> float:
    if at.tzinfo is None:
        raise ValueError(f"{at!r} has no time zone; Phoenix passes UTC datetimes")
    return at.timestamp()


def _refusal(exc: PrometheusApiClientException) -> str:
    """Prometheus' own error out of prometheus-api-client's message, which embeds the body as
    a bytes literal: ``HTTP Status Code 400 (b'{"status":"error",...}')``."""
    text = str(exc)
    status = text.split(" (", 1)[0]
    start, end = text.find("(b"), text.rfind(")")
    if start >= 0 and end > start:
        try:
            body = json.loads(ast.literal_eval(text[start + 1 : end]))
            return f"{status}: {body.get('errorType', 'error')}: {body['error']}"
        except (ValueError, SyntaxError, KeyError, TypeError, AttributeError):
            pass
    return text
