"""Tokens and roles: who may call Phoenix, and as what.

Tokens are random (256 bits), shown once, and stored only as SHA-256 hashes. Their prefix says
their kind, so a leaked one is easy to recognise and a wrong kind is refused before any lookup:

- ``phx_u_…`` a user's API token, with a role (``viewer`` < ``operator`` < ``admin``);
- ``phx_e_…`` an enrolment token, which an agent exchanges once for a host token;
- ``phx_h_…`` a host's own token (an agent sees and changes only its host's tasks).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from phoenix_core.errors import PhoenixError

__all__ = [
    "Forbidden",
    "Principal",
    "Role",
    "TokenKind",
    "Unauthenticated",
    "TOKEN_RULE",
    "hash_token",
    "new_token",
    "token_kind",
    "token_problem",
]


class Unauthenticated(PhoenixError):
    """No valid token: missing, malformed, unknown, expired or revoked."""


class Forbidden(PhoenixError):
    """A valid token whose role or kind does not allow the operation."""


class TokenKind(StrEnum):
    USER = "user"
    ENROLMENT = "enrolment"
    HOST = "host"


_PREFIX = {TokenKind.USER: "phx_u_", TokenKind.ENROLMENT: "phx_e_", TokenKind.HOST: "phx_h_"}
_URLSAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

TOKEN_RULE = (
    "a Phoenix token is phx_u_ (a user's), phx_e_ (enrolment) or phx_h_ (a host's)"  # noqa: S105
    " followed by 43 letters, digits, '-' or '_', with no spaces"
)
"""What a token looks like, for the messages that refuse a malformed one."""


class Role(StrEnum):
    """User roles, each allowed what the ones before it are."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user with a role, or a host's agent."""

    token_id: uuid.UUID
    kind: TokenKind
    name: str
    role: Role | None = None
    host_id: uuid.UUID | None = None
    expires_at: datetime | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        return f"agent:{self.name}" if self.kind is TokenKind.HOST else f"user:{self.name}"

    def require(self, needed: Role) -> None:
        """Raise ``Forbidden`` unless this is a user whose role allows ``needed``."""
        if self.kind is not TokenKind.USER or self.role is None or not self.role.allows(needed):
            have = self.role.value if self.role else self.kind.value
            raise Forbidden(f"This needs the role '{needed.value}'; the token has '{have}'.")


def new_token(kind: TokenKind) -> str:
    """A fresh random token of ``kind`` (show it once, store ``hash_token`` of it)."""
    return _PREFIX[kind] + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_kind(token: str) -> TokenKind:
    """The kind a token's prefix announces; ``Unauthenticated`` for anything else."""
    for kind, prefix in _PREFIX.items():
        if token.startswith(prefix) and len(token) > len(prefix) + 20 and set(token) <= _URLSAFE:
            return kind
    raise Unauthenticated(f"The token is malformed: {TOKEN_RULE}.")


def token_problem(token: str) -> str | None:
    """What is wrong with a token's shape (never quoting it), or None if it looks right."""
    if token != token.strip():
        return "it begins or ends with whitespace (a space or a line break, as copied)"
    if not token:
        return "it is empty"
    try:
        token_kind(token)
    except Unauthenticated:
        bad = sorted({c for c in token if c not in _URLSAFE})
        if bad:
            shown = ", ".join("a space" if c == " " else repr(c) for c in bad[:3])
            return f"it holds {shown}; {TOKEN_RULE}"
        return TOKEN_RULE
    return None
