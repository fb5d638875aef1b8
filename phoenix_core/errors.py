"""The one exception tree of Phoenix.

    PhoenixError
    ├── ConfigurationError        settings or environment are wrong (bad URL, unwritable folder)
    ├── DatabaseError
    │   ├── DatabaseUnavailable   the database cannot be reached
    │   └── SchemaMismatch        the schema is not at the revision this code needs
    │       └── SchemaAhead       the database is at a migration newer than this code knows
    ├── ValidationFailed          input is invalid; carries the field path at fault
    ├── NotFound                  a named thing does not exist
    ├── Conflict                  the request collides with the current state
    │   ├── StaleVersion          an edit based on an outdated version (optimistic locking)
    │   └── InvalidTransition     a lifecycle transition that the state machine does not allow

Only the API's error module maps these to HTTP (RFC 9457 problem details); the CLIs print
``str(error)``, which is always one readable sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "Conflict",
    "ConfigurationError",
    "DatabaseError",
    "DatabaseUnavailable",
    "FieldError",
    "InvalidTransition",
    "NotFound",
    "PhoenixError",
    "SchemaAhead",
    "SchemaMismatch",
    "StaleVersion",
    "ValidationFailed",
]


class PhoenixError(Exception):
    """Root of every error Phoenix raises on purpose; its message is one readable sentence."""


class ConfigurationError(PhoenixError):
    """A setting or the environment is wrong."""


class DatabaseError(PhoenixError):
    """The database cannot serve Phoenix."""


class DatabaseUnavailable(DatabaseError):
    """The database server cannot be reached or refuses the connection."""


class SchemaMismatch(DatabaseError):
    """The database schema is not at the revision this code needs."""


class SchemaAhead(SchemaMismatch):
    """The database is at a migration this code does not know (written by a newer Phoenix)."""


class FieldError:
    """One problem with one input field; ``loc`` is its path, e.g. ``("variants", 1, "name")``."""

    __slots__ = ("loc", "message")

    def __init__(self, loc: Sequence[str | int], message: str) -> None:
        self.loc = tuple(loc)
        self.message = message

    @property
    def path(self) -> str:
        """The location as a dotted path (``variants.1.name``)."""
        return ".".join(str(part) for part in self.loc)

    def __repr__(self) -> str:
        return f"FieldError({self.path!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, FieldError)
            and other.loc == self.loc
            and other.message == self.message
        )

    def __hash__(self) -> int:
        return hash((self.loc, self.message))


class ValidationFailed(PhoenixError):
    """Input is invalid; ``errors`` names each field at fault."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        if not errors:
            raise ValueError("ValidationFailed needs at least one FieldError")
        self.errors = list(errors)
        summary = "; ".join(f"{e.path or '(root)'}: {e.message}" for e in self.errors)
        super().__init__(f"Invalid input: {summary}")

    def under(self, *prefix: str | int) -> ValidationFailed:
        """The same errors, each located under ``prefix`` (``"query"``: a query parameter)."""
        return ValidationFailed([FieldError((*prefix, *e.loc), e.message) for e in self.errors])

    @classmethod
    def from_pydantic(cls, exc: object, prefix: Sequence[str | int] = ()) -> ValidationFailed:
        """Wrap a ``pydantic.ValidationError`` without importing pydantic here."""
        errors = [
            FieldError((*prefix, *err["loc"]), err["msg"].removeprefix("Value error, "))
            for err in exc.errors()  # type: ignore[attr-defined]
        ]
        return cls(errors)


class NotFound(PhoenixError):
    """A named thing does not exist."""

    def __init__(self, kind: str, key: object, *, detail: str | None = None) -> None:
        self.kind = kind
        self.key = key
        super().__init__(detail or f"No {kind} '{key}' exists.")


class Conflict(PhoenixError):
    """The request collides with the current state."""


class StaleVersion(Conflict):
    """An edit based on a version that is no longer the current one."""


class InvalidTransition(Conflict):
    """A lifecycle transition the state machine does not allow."""

    def __init__(self, kind: str, current: str, target: str) -> None:
        self.kind = kind
        self.current = current
        self.target = target
        super().__init__(f"A {kind} in state '{current}' cannot move to '{target}'.")
