"""Tokens and roles."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from phoenix_core.auth import (
    Forbidden,
    Principal,
    Role,
    TokenKind,
    Unauthenticated,
    hash_token,
    new_token,
    token_kind,
)


def test_tokens_announce_their_kind_and_are_random() -> None:
    tokens = {new_token(TokenKind.USER) for _ in range(100)}
    assert len(tokens) == 100
    assert all(t.startswith("phx_u_") and len(t) > 40 for t in tokens)
    assert token_kind(new_token(TokenKind.ENROLMENT)) is TokenKind.ENROLMENT
    assert token_kind(new_token(TokenKind.HOST)) is TokenKind.HOST


@pytest.mark.parametrize(
    "text", ["", "Bearer x", "phx_u_short", "ghp_" + "a" * 40, "phx_x_" + "a" * 40]
)
def test_malformed_tokens_are_refused(text: str) -> None:
    with pytest.raises(Unauthenticated, match="malformed"):
        token_kind(text)


def test_tokens_are_stored_as_sha256() -> None:
    token = new_token(TokenKind.USER)
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)


def test_principal_requires_a_user_with_the_role() -> None:
    operator = Principal(uuid.uuid4(), TokenKind.USER, "alice", role=Role.OPERATOR)
    operator.require(Role.VIEWER)
    operator.require(Role.OPERATOR)
    with pytest.raises(Forbidden, match="needs the role 'admin'; the token has 'operator'"):
        operator.require(Role.ADMIN)
    host = Principal(uuid.uuid4(), TokenKind.HOST, "web-1", host_id=uuid.uuid4())
    with pytest.raises(Forbidden, match="the token has 'host'"):
        host.require(Role.VIEWER)
    assert (operator.actor, host.actor) == ("user:alice", "agent:web-1")
