"""Enrolment: an agent of a compatible version trades an enrolment token for its host's own
token."""

from __future__ import annotations

import phoenix_core
from phoenix_core.auth import Forbidden, Principal, TokenKind
from phoenix_core.errors import Conflict
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tokens import TokenRepository
from phoenix_core.wire.agent_api import Registration, RegistrationResult

__all__ = ["enrol", "is_compatible"]


def _major_minor(version: str) -> tuple[int, int] | None:
    parts = version.split("+", maxsplit=1)[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def is_compatible(agent_version: str, server_version: str = phoenix_core.__version__) -> bool:
    """Same major version (and, before 1.0, the same minor): the wire models then agree."""
    agent, server = _major_minor(agent_version), _major_minor(server_version)
    if agent is None or server is None:
        return False
    return agent == server if server[0] == 0 else agent[0] == server[0]


def enrol(store: Store, principal: Principal, registration: Registration) -> RegistrationResult:
    """Register the host and issue its own token. A host re-enrolling under the same hostname
    (its state folder was lost, say) keeps its host record; its previous token is revoked."""
    if principal.kind is not TokenKind.ENROLMENT:
        raise Forbidden("Enrolling a host needs an enrolment token.")
    if not is_compatible(registration.agent_version):
        raise Conflict(
            f"Agent version {registration.agent_version} cannot work with this Phoenix "
            f"({phoenix_core.__version__}): install phoenix-agent {phoenix_core.__version__}."
        )
    with store.session() as session:
        hosts = HostRepository(session)
        tokens = TokenRepository(session)
        actor = f"enrolment:{principal.name}"
        existing = [h for h in hosts.list() if h.hostname == registration.hostname]
        if existing:
            host = existing[0]
            if any(
                t.name == host.hostname and t.revoked_at is None
                for t in tokens.list(TokenKind.HOST)
            ):
                tokens.revoke(TokenKind.HOST, host.hostname, actor=actor)
        else:
            host = hosts.register(
                registration.hostname,
                labels=registration.labels,
                agent_version=registration.agent_version,
                ip_address=registration.ip_address,
                capabilities=registration.capabilities,
                actor=actor,
            )
        _, token = tokens.create(TokenKind.HOST, host.hostname, actor=actor, host_id=host.id)
        return RegistrationResult(host_id=host.id, token=token)
