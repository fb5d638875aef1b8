"""The labels Phoenix puts on every series a variant's collector writes, and on what agents push.

Named so that no exporter uses them (``phoenix_`` prefix), and they override rather than yield:
a source series that carries one already keeps that value as ``exported_<name>``, the way
Prometheus renames a scraped label that clashes with a target label. The collector compilers,
the forecast simulator and every query Phoenix issues follow this one rule.

Before these names, Phoenix wrote ``experiment_id``, ``variant`` and ``host``, which a source's
own labels overrode (``docs/pipelines.md`` has the migration for queries and dashboards).
"""

from __future__ import annotations

__all__ = [
    "EXPERIMENT",
    "EXPORTED_PREFIX",
    "HOST",
    "IDENTITY_LABELS",
    "LEGACY_NAMES",
    "VARIANT",
    "exported",
    "identity",
    "matchers",
    "promql_string",
    "quoted",
]

EXPERIMENT = "phoenix_experiment_id"
VARIANT = "phoenix_variant"
HOST = "phoenix_host"
IDENTITY_LABELS = (EXPERIMENT, VARIANT, HOST)
EXPORTED_PREFIX = "exported_"
LEGACY_NAMES = {"experiment_id": EXPERIMENT, "variant": VARIANT, "host": HOST}
"""The names Phoenix wrote before, and what each is now."""


def exported(label: str) -> str:
    """The name a source's own label takes when Phoenix sets one of that name."""
    return EXPORTED_PREFIX + label


def identity(experiment_id: str, variant: str, host: str) -> dict[str, str]:
    """The identity labels of one variant on one host."""
    return {EXPERIMENT: experiment_id, VARIANT: variant, HOST: host}


def matchers(
    experiment_id: str | None = None, variant: str | None = None, host: str | None = None
) -> str:
    """PromQL equality matchers for the given identity labels, comma-separated (no braces)."""
    given = ((EXPERIMENT, experiment_id), (VARIANT, variant), (HOST, host))
    return ",".join(
        f'{name}="{promql_string(value)}"' for name, value in given if value is not None
    )


def quoted(text: str) -> str:
    """``text`` as a double-quoted string literal with Go's escapes, which PromQL and OTTL
    both read back as exactly ``text``."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def promql_string(text: str) -> str:
    """``text`` escaped for the inside of a double-quoted PromQL string."""
    return quoted(text)[1:-1]
