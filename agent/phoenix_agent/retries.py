"""How the agent tries again what the API could not do now: the backoff every loop shares, and
a config download, which retries within its task's lease and stops when the task is cancelled.

A download's outcomes: the config's text; ``TaskFailed`` for a refusal (403, 404 and other
4xx: at once, naming the status and the URL, whose last part is the config's SHA-256) or for a
lease that ran out while the API stayed unavailable (the reason says so, with the last error);
``TaskCancelled`` when the task is cancelled meanwhile. A 401 or 410 (the agent's own token
refused) stays ``Fatal``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_random_exponential

from phoenix_agent.control_plane import ControlPlane, Refused, Unavailable
from phoenix_agent.failures import TaskCancelled, TaskFailed
from phoenix_agent.held import TaskControl
from phoenix_agent.outages import Outage

__all__ = ["backoff", "fetch_config"]

log = logging.getLogger(__name__)


def backoff(cap: float) -> Callable[[RetryCallState], float]:
    """Capped exponential backoff with full jitter, never sooner than ``Retry-After``."""
    jitter = wait_random_exponential(multiplier=0.5, max=cap)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = exc.retry_after if isinstance(exc, Unavailable) else None
        base = float(jitter(state))
        return max(base, min(after, cap)) if after is not None else base

    return wait


def fetch_config(
    plane: ControlPlane,
    url: str,
    control: TaskControl,
    *,
    max_backoff_seconds: float,
    note: Callable[[str], None] = lambda detail: None,
) -> str:
    """The config at ``url``, retried while the API is unavailable (``note`` hears of each
    retry), until the task's lease would run out or the task is cancelled."""
    outage = Outage(f"download of {url}", log)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        left = control.lease_left()
        if wait >= left:
            raise TaskFailed(
                f"cannot download the config {url}: the API is still unavailable ({exc}) "
                f"and the task's lease runs out in {max(left, 0):.0f} s (gave up after "
                f"{state.attempt_number} tries)"
            ) from exc
        note(f"in {wait:.1f} s: {exc}")
        outage.failed(f"{exc}; retrying in {wait:.1f} s")

    def sleep(seconds: float) -> None:
        if control.cancelled.wait(seconds):
            raise TaskCancelled(f"cancelled by the control plane while downloading {url}")

    retrying = Retrying(
        retry=retry_if_exception_type(Unavailable),
        wait=backoff(max_backoff_seconds),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        text = retrying(lambda: plane.config(url))
    except Refused as exc:
        raise TaskFailed(f"the API refused the config {url} ({exc.status}): {exc.detail}") from exc
    outage.worked()
    return text
