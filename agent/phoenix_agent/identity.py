"""The host's identity: its host id and token, from enrolling once, kept in the state folder.

The enrolment token is used once; afterwards the agent authenticates with the host token it
got, read back from ``identity.json`` (mode 0600, written atomically) on every start.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from phoenix_core.errors import ConfigurationError

__all__ = ["Identity", "write_atomically"]


@dataclass(frozen=True)
class Identity:
    host_id: uuid.UUID
    token: str

    @staticmethod
    def path(state_dir: Path) -> Path:
        return state_dir / "identity.json"

    @classmethod
    def load(cls, state_dir: Path) -> Identity | None:
        """The stored identity, or None before the first enrolment."""
        path = cls.path(state_dir)
        try:
            data = json.loads(path.read_text())
            return cls(uuid.UUID(data["host_id"]), str(data["token"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(
                f"The agent's identity file {path} is unreadable ({exc}); remove it and enrol "
                "again with PHOENIX_AGENT_ENROLMENT_TOKEN."
            ) from exc

    def save(self, state_dir: Path) -> None:
        body = json.dumps({"host_id": str(self.host_id), "token": self.token}, indent=2)
        write_atomically(self.path(state_dir), body, mode=0o600)


def write_atomically(path: Path, text: str, *, mode: int = 0o644, durable: bool = True) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never half;
    ``durable`` also waits until it is on disk (not for files rewritten on every poll)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
            file.flush()
            if durable:
                os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
