"""RFC 9457 problem details: the only place that maps Phoenix errors to HTTP."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from phoenix_core.auth import Forbidden, Unauthenticated
from phoenix_core.errors import (
    ConfigurationError,
    Conflict,
    DatabaseUnavailable,
    NotFound,
    PhoenixError,
    SchemaMismatch,
    StaleVersion,
    ValidationFailed,
)
from phoenix_core.metrics.reader import MetricsUnavailable

__all__ = ["PROBLEM_RESPONSES", "Problem", "install_problem_handlers", "problem"]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem document; ``errors`` names each field at fault (422)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


def _problem_response(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        "model": Problem,
        "description": description,
        "content": {PROBLEM_JSON: {"schema": schema}},
    }


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem_response("No valid token."),
    403: _problem_response("The token's role or kind does not allow this."),
    404: _problem_response("Not found."),
    409: _problem_response("Conflicts with the current state."),
    412: _problem_response("If-Match names an outdated version."),
    413: _problem_response("The request body is too large."),
    422: _problem_response("Invalid input; errors name the fields."),
    503: _problem_response(
        "The database or the receiving Prometheus is unavailable, or the database is not migrated."
    ),
}
"""Documented on every operation: every error is a problem document."""

_STATUS: list[tuple[type[PhoenixError], int]] = [
    (Unauthenticated, 401),
    (Forbidden, 403),
    (ValidationFailed, 422),
    (NotFound, 404),
    (StaleVersion, 412),
    (Conflict, 409),
    (DatabaseUnavailable, 503),
    (SchemaMismatch, 503),
    (MetricsUnavailable, 503),
    (ConfigurationError, 500),
]


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    """A problem-details response; ``title`` is the HTTP status phrase."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _status_of(exc: PhoenixError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


async def _phoenix_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PhoenixError)
    status = _status_of(exc)
    if status >= 500:
        log.error("request failed: %s", exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationFailed):
        extra["errors"] = [{"loc": list(e.loc), "msg": e.message} for e in exc.errors]
    return problem(status, str(exc), **extra)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(err["loc"]), "msg": err["msg"]} for err in exc.errors()]
    summary = "; ".join(".".join(map(str, e["loc"])) + f": {e['msg']}" for e in errors)
    return problem(422, f"Invalid request: {summary}", errors=errors)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, str(exc.detail))


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return problem(500, "An unexpected error occurred; it has been logged.")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PhoenixError, _phoenix_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
