"""Regenerate the files that are generated from the code; ``--check`` only reports staleness.

    python scripts/generate.py           # rewrite them
    python scripts/generate.py --check   # exit 1 naming each file that is out of date

- ``environment.yml`` from ``pyproject.toml``: conda gives Python and pip; every Python
  dependency (base and all extras) comes from PyPI through pip exactly as pyproject.toml names it.
- ``docs/pipeline-support.md`` from the collector compilers (step × collector support matrix).
- ``deploy/otelcol/builder-config.yaml`` (the collector build manifest) from
  ``phoenix_core/pipelines/otelcol_components.yaml``, the one list of the components and their
  release that the config validator also reads.
- the catalog section of ``docs/kpis.md`` (between its two ``generated from the catalog``
  markers) from ``phoenix_core/metrics/catalog.yaml``.
- ``docs/spec-reference.md`` from the experiment spec's JSON schema (``ExperimentSpec``):
  every field of every part, its type, default, allowed values and description.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def environment(root: Path) -> str:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    name = project["name"]
    python = re.sub(r"^>=\s*", "", project["requires-python"])
    requirements: set[str] = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements.update(r for r in extra if not r.startswith(f"{name}["))
    lines = [
        "# Generated from pyproject.toml by scripts/generate.py; do not edit by hand.",
        "name: phoenix",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={python}",
        "  - pip",
        "  - pip:",
        *(f'      - "{r}"' for r in sorted(requirements, key=str.lower)),
        "      - --editable .",
    ]
    return "\n".join(lines) + "\n"


def support_matrix(_root: Path) -> str:
    from phoenix_core.pipelines.collectors import support_matrix_markdown

    return support_matrix_markdown()


BUILDER_HEADER = """\
# OpenTelemetry Collector Builder (ocb) manifest of otelcol-phoenix, the collector the tests run
# for `otelcol` variants. Generated from phoenix_core/pipelines/otelcol_components.yaml by
# scripts/generate.py; do not edit by hand. Build it with deploy/otelcol/build.sh (the binary goes
# to a cache folder outside the repository, keyed by this file's sha256).
#
# Every module is at one collector release: core at it with the stable core modules at the
# matching v1.x (the builder resolves those), contrib at it, and the builder
# (go.opentelemetry.io/collector/cmd/builder) too. Why this release: the component list's header.
"""


def builder_manifest(root: Path) -> str:
    import yaml

    pinned = yaml.safe_load((root / "phoenix_core/pipelines/otelcol_components.yaml").read_text())
    release = str(pinned["release"])
    lines = [
        BUILDER_HEADER.rstrip("\n"),
        "dist:",
        "  name: otelcol-phoenix",
        "  module: phoenix.local/otelcol-phoenix",
        "  description: Phoenix OpenTelemetry Collector (metrics pipelines of experiments)",
        f"  version: {release.removeprefix('v')}",
        "  output_path: ./_build  # build.sh overrides it",
    ]
    for kind in ("receiver", "processor", "exporter", "extension"):
        lines += ["", f"{kind}s:"]
        lines += [
            f"  - gomod: {c['module']} {release}" for c in pinned["components"] if c["kind"] == kind
        ]
    return "\n".join(lines) + "\n"


KPI_START = "<!-- generated from the catalog: start -->"
KPI_END = "<!-- generated from the catalog: end -->"


def kpi_doc(root: Path) -> str:
    from phoenix_core.metrics.catalog import builtin_catalog, catalog_markdown

    path = root / "docs/kpis.md"
    text = path.read_text() if path.exists() else f"{KPI_START}\n{KPI_END}\n"
    before, rest = text.split(KPI_START, 1)
    _, after = rest.split(KPI_END, 1)
    return f"{before}{KPI_START}\n{catalog_markdown(builtin_catalog())}{KPI_END}{after}"


def spec_reference(root: Path) -> str:
    from phoenix_core.spec import ExperimentSpec

    schema = ExperimentSpec.model_json_schema()
    models = {"ExperimentSpec": schema, **schema.get("$defs", {})}
    lines = [
        "# Experiment spec reference",
        "",
        "Generated from the spec's schema (`phoenix_core.spec.ExperimentSpec`) by",
        "`scripts/generate.py`; do not edit by hand. A spec is YAML or JSON, given to",
        "`phoenix experiment create FILE` or `POST /api/v1/experiments`;",
        "[examples/experiment.yaml](examples/experiment.yaml) is a complete one with every field",
        "explained, and [analysis.md](analysis.md) tells how gates are judged. Unknown fields",
        "are refused, and every error names the field at fault.",
    ]
    for name, model in models.items():
        if "properties" not in model:
            lines += ["", f"## {name}", "", *_enum_lines(model)]
            continue
        required = set(model.get("required", []))
        lines += ["", f"## {name}", ""]
        if model.get("description"):
            lines += [" ".join(model["description"].split()), ""]
        lines += [
            "| field | type | required | default | allowed | description |",
            "|---|---|---|---|---|---|",
        ]
        for field, spec in model["properties"].items():
            default = "" if "default" not in spec else f"`{_json(spec['default'])}`"
            words = " ".join(spec.get("description", "").split())
            lines.append(
                f"| `{field}` | {_type(spec)} | {'yes' if field in required else 'no'} "
                f"| {default} | {_allowed(spec)} | {words} |"
            )
    return "\n".join(lines) + "\n"


def _json(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _type(spec: dict[str, object]) -> str:
    if "$ref" in spec:
        target = str(spec["$ref"]).rsplit("/", 1)[-1]
        return f"[{target}](#{target.lower()})"
    if "anyOf" in spec:
        options = spec["anyOf"]
        assert isinstance(options, list)
        return " or ".join(_type(option) for option in options)
    kind = spec.get("type", "any")
    if kind == "array":
        items = spec.get("items", {})
        assert isinstance(items, dict)
        return f"list of {_type(items)}"
    if kind == "object" and isinstance(spec.get("additionalProperties"), dict):
        return f"map of {_type(spec['additionalProperties'])}"  # type: ignore[arg-type]
    return str(kind)


def _allowed(spec: dict[str, object]) -> str:
    parts = []
    for key, word in (
        ("enum", "one of"),
        ("pattern", "matches"),
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
        ("minItems", "items ≥"),
        ("maxItems", "items ≤"),
        ("minProperties", "entries ≥"),
    ):
        if key in spec:
            value = spec[key]
            shown = ", ".join(f"`{v}`" for v in value) if isinstance(value, list) else f"`{value}`"
            parts.append(f"{word} {shown}".replace("|", "\\|"))
    options = spec.get("anyOf")
    for option in options if isinstance(options, list) else []:
        inner = _allowed(option)
        if inner:
            parts.append(inner)
    return "; ".join(parts)


def _enum_lines(model: dict[str, object]) -> list[str]:
    values = model.get("enum", [])
    assert isinstance(values, list)
    return [f"One of: {', '.join(f'`{v}`' for v in values)}."]


GENERATED: dict[str, Callable[[Path], str]] = {
    "environment.yml": environment,
    "docs/pipeline-support.md": support_matrix,
    "deploy/otelcol/builder-config.yaml": builder_manifest,
    "docs/kpis.md": kpi_doc,
    "docs/spec-reference.md": spec_reference,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; change nothing")
    parser.add_argument("--root", type=Path, default=ROOT, help="project folder")
    args = parser.parse_args()
    stale = []
    for relative, render in GENERATED.items():
        target = args.root / relative
        wanted = render(args.root)
        if target.exists() and target.read_text() == wanted:
            continue
        if args.check:
            stale.append(relative)
        else:
            target.write_text(wanted)
    for relative in stale:
        print(f"{relative} is out of date: run python scripts/generate.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
