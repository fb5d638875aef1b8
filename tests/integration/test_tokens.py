"""Tokens in the store: only hashes are kept; unknown, expired, revoked and wrong-kind tokens
are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from phoenix_core.auth import Role, TokenKind, Unauthenticated, hash_token
from phoenix_core.errors import Conflict, NotFound
from phoenix_core.store.events import EventRepository
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tables import ApiTokenRow
from phoenix_core.store.tokens import TokenRepository
from phoenix_core.store.types import utcnow


def test_a_user_token_authenticates_with_its_role(store: Store) -> None:
    with store.session() as session:
        record, token = TokenRepository(session).create(
            TokenKind.USER, "alice", actor="cli:root", role=Role.OPERATOR
        )
    with store.session() as session:
        stored = session.scalars(select(ApiTokenRow.token_hash)).all()
        principal = TokenRepository(session).authenticate(token)
        listed = TokenRepository(session).list()
    assert stored == [hash_token(token)]  # the value itself is nowhere
    assert (principal.name, principal.role, principal.kind) == (
        "alice",
        Role.OPERATOR,
        TokenKind.USER,
    )
    assert listed[0].last_used_at is not None
    assert record.expires_at is None


def test_host_tokens_carry_their_host(store: Store) -> None:
    with store.session() as session:
        host = HostRepository(session).register("web-1", actor="test")
        _, token = TokenRepository(session).create(
            TokenKind.HOST, "web-1", actor="enrolment:rack-7", host_id=host.id
        )
    with store.session() as session:
        principal = TokenRepository(session).authenticate(token)
    assert principal.host_id == host.id
    assert principal.actor == "agent:web-1"


def test_unknown_expired_and_revoked_tokens_are_refused(store: Store) -> None:
    with store.session() as session:
        tokens = TokenRepository(session)
        _, short = tokens.create(
            TokenKind.ENROLMENT, "rack-7", actor="t", expires_in=timedelta(hours=1)
        )
        _, gone = tokens.create(TokenKind.USER, "bob", actor="t", role=Role.VIEWER)
    with store.session() as session:
        tokens = TokenRepository(session)
        tokens.revoke(TokenKind.USER, "bob", actor="user:admin")
        with pytest.raises(Unauthenticated, match="not known"):
            tokens.authenticate("phx_u_" + "x" * 43)
        with pytest.raises(Unauthenticated, match="'rack-7' expired"):
            tokens.authenticate(short, at=utcnow() + timedelta(hours=2))
        assert tokens.authenticate(short).name == "rack-7"
        with pytest.raises(Unauthenticated, match="'bob' was revoked"):
            tokens.authenticate(gone)
        with pytest.raises(Unauthenticated, match="not known"):  # right value, wrong prefix
            tokens.authenticate("phx_u_" + short.removeprefix("phx_e_"))
        events = EventRepository(session).list()
    assert [e.type for e in events] == ["token_created", "token_created", "token_revoked"]


def test_live_names_are_unique_and_free_again_once_revoked(store: Store) -> None:
    with store.session() as session:
        TokenRepository(session).create(TokenKind.USER, "carol", actor="t", role=Role.ADMIN)
    with store.session() as session, pytest.raises(Conflict, match="named 'carol' exists"):
        TokenRepository(session).create(TokenKind.USER, "carol", actor="t", role=Role.ADMIN)
    with store.session() as session:
        TokenRepository(session).revoke(TokenKind.USER, "carol", actor="t")
        TokenRepository(session).create(TokenKind.USER, "carol", actor="t", role=Role.VIEWER)
    with store.session() as session, pytest.raises(NotFound):
        TokenRepository(session).revoke(TokenKind.ENROLMENT, "carol", actor="t")
