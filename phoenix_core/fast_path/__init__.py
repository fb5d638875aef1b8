"""The fast path: the API's hottest requests (a heartbeat, a poll, a token lookup, a page of
experiments), each one statement on PostgreSQL and the repositories elsewhere.

``fast_path_for(store, queue)`` gives the implementation for the database in use; both pass
the same tests (``tests/integration/test_fast_path.py``). Above ``queue`` and ``store``, which
never import it.
"""

from __future__ import annotations

from phoenix_core.fast_path.base import AgentWork, FastPath, fast_path_for

__all__ = ["AgentWork", "FastPath", "fast_path_for"]
