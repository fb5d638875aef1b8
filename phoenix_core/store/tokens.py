"""Tokens in the store: create (the plaintext is returned once), authenticate, list, revoke."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from phoenix_core.auth import (
    Principal,
    Role,
    TokenKind,
    Unauthenticated,
    hash_token,
    new_token,
    token_kind,
)
from phoenix_core.errors import Conflict, NotFound
from phoenix_core.store.events import EventRepository
from phoenix_core.store.tables import ApiTokenRow
from phoenix_core.store.types import utcnow

__all__ = ["LAST_USED_RESOLUTION", "TokenFacts", "TokenRecord", "TokenRepository", "token_holder"]

LAST_USED_RESOLUTION = timedelta(minutes=1)
"""A token's ``last_used_at`` is written at most this often."""


class TokenFacts(Protocol):
    """What authenticating needs of a token's row (``ApiTokenRow`` has it)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str | None: ...
    @property
    def host_id(self) -> uuid.UUID | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def revoked_at(self) -> datetime | None: ...


def token_holder(row: TokenFacts | None, kind: TokenKind, now: datetime) -> Principal:
    """Who holds the token of ``kind`` whose row (found by hash and kind) is ``row``;
    ``Unauthenticated`` if there is none or it is revoked or expired at ``now``."""
    if row is None:
        raise Unauthenticated("The token is not known.")
    if row.revoked_at is not None:
        raise Unauthenticated(f"The token {row.name!r} was revoked.")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated(f"The token {row.name!r} expired.")
    return Principal(
        token_id=row.id,
        kind=kind,
        name=row.name,
        role=Role(row.role) if row.role else None,
        host_id=row.host_id,
        expires_at=row.expires_at,
    )


class TokenRecord(BaseModel):
    """A token as listed: never its value, which only its creator saw once."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: uuid.UUID
    kind: TokenKind
    name: str
    role: Role | None
    host_id: uuid.UUID | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._events = EventRepository(session)

    def create(
        self,
        kind: TokenKind,
        name: str,
        *,
        actor: str,
        role: Role | None = None,
        host_id: uuid.UUID | None = None,
        expires_in: timedelta | None = None,
    ) -> tuple[TokenRecord, str]:
        """A new token; returns its record and its value (shown once, stored as a hash)."""
        if (kind is TokenKind.USER) != (role is not None):
            raise ValueError("user tokens have a role, other tokens have none")
        token = new_token(kind)
        now = utcnow()
        row = ApiTokenRow(
            id=uuid.uuid4(),
            kind=kind.value,
            name=name,
            role=role.value if role else None,
            token_hash=hash_token(token),
            host_id=host_id,
            created_by=actor,
            created_at=now,
            expires_at=now + expires_in if expires_in else None,
        )
        try:
            with self._session.begin_nested():
                self._session.add(row)
        except IntegrityError as exc:
            raise Conflict(f"A {kind.value} token named {name!r} exists already.") from exc
        self._events.append(
            "token_created",
            actor=actor,
            host_id=host_id,
            data={"kind": kind.value, "name": name, "role": row.role},
        )
        return TokenRecord.model_validate(row), token

    def authenticate(self, token: str, *, at: datetime | None = None) -> Principal:
        """Who holds ``token``; ``Unauthenticated`` if it is unknown, expired or revoked."""
        kind = token_kind(token)
        row = self._session.scalar(
            select(ApiTokenRow).where(
                ApiTokenRow.token_hash == hash_token(token), ApiTokenRow.kind == kind.value
            )
        )
        now = at or utcnow()
        principal = token_holder(row, kind, now)
        assert row is not None
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
            row.last_used_at = now  # not on every request
        return principal

    def list(self, kind: TokenKind | None = None) -> Sequence[TokenRecord]:
        query = select(ApiTokenRow).order_by(ApiTokenRow.kind, ApiTokenRow.name)
        if kind is not None:
            query = query.where(ApiTokenRow.kind == kind.value)
        return [TokenRecord.model_validate(row) for row in self._session.scalars(query)]

    def revoke(self, kind: TokenKind, name: str, *, actor: str) -> TokenRecord:
        """Revoke the live token of ``kind`` named ``name``."""
        row = self._session.scalar(
            select(ApiTokenRow).where(
                ApiTokenRow.kind == kind.value,
                ApiTokenRow.name == name,
                ApiTokenRow.revoked_at.is_(None),
            )
        )
        if row is None:
            raise NotFound(f"{kind.value} token", name)
        row.revoked_at = utcnow()
        self._session.flush()
        self._events.append(
            "token_revoked",
            actor=actor,
            host_id=row.host_id,
            data={"kind": kind.value, "name": name},
        )
        return TokenRecord.model_validate(row)
