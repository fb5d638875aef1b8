"""Which ``PHOENIX_*`` environment variables a program does not know (a typo, or a setting of
another program): one rule for ``phoenix`` (it warns) and ``phoenix-agent`` (it refuses).

Light on purpose (the standard library only): the agent imports it, and must not import
pydantic-settings. ``phoenix_core.settings.known_variables`` computes the known set from
pydantic-settings classes.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping

__all__ = ["closest", "unknown_setting", "unknown_variables"]


def unknown_variables(
    environ: Mapping[str, str],
    prefix: str,
    known: Collection[str],
    *,
    others: Iterable[str] = (),
) -> list[str]:
    """The variables of ``environ`` that start with ``prefix`` (any case) and are neither in
    ``known`` nor under one of the ``others`` prefixes (another program's), sorted."""
    wanted = {name.upper() for name in known}
    skipped = tuple(other.upper() for other in others)
    return sorted(
        variable
        for variable in environ
        if variable.upper().startswith(prefix.upper())
        and variable.upper() not in wanted
        and not variable.upper().startswith(skipped or ("\0",))
    )


def unknown_setting(variable: str, known: Collection[str]) -> str:
    """One sentence on an unknown ``variable``: the known name it resembles, if any, and every
    known name."""
    names = sorted(name.upper() for name in known)
    close = closest(variable, names)
    hint = f": did you mean {close}?" if close else ""
    return f"Unknown setting {variable}{hint} (known: {', '.join(names)})."


def closest(variable: str, known: Collection[str]) -> str | None:
    """The known name ``variable`` most resembles (a typo of it), if one is close enough."""
    names = sorted(name.upper() for name in known)
    close = difflib.get_close_matches(variable.upper(), names, n=1, cutoff=0.8)
    return close[0] if close else None
