"""``/api/v1/whoami``: who the caller's token says it is, and what its role may do, so that a
client (the dashboards, the CLI) shows only the actions the caller may take."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from phoenix_api.deps import caller
from phoenix_core.auth import Role, TokenKind

router = APIRouter(prefix="/api/v1", tags=["identity"])


class Identity(BaseModel):
    name: str = Field(description="The token's name (a user, or a host for an agent's token).")
    kind: TokenKind
    role: Role | None = Field(description="A user's role; null for an agent's token.")
    actor: str = Field(description="How the audit trail names the caller.")
    expires_at: datetime | None = Field(description="When the token expires; null: never.")
    may: list[Role] = Field(
        description="The roles whose routes the caller may use (its own and the ones below)."
    )


@router.get("/whoami", response_model=Identity)
def whoami(request: Request) -> Identity:
    """The calling token's name, kind, role and expiry."""
    principal = caller(request)
    role = principal.role
    return Identity(
        name=principal.name,
        kind=principal.kind,
        role=role,
        actor=principal.actor,
        expires_at=principal.expires_at,
        may=[r for r in Role if role is not None and r.rank <= role.rank],
    )
