"""The collector build manifest (deploy/otelcol/builder-config.yaml) and the component list the
config validator reads (phoenix_core/pipelines/otelcol_components.yaml) name the same components
at the same release, so a config the validator accepts names only components the built collector
has. The manifest is what gets built; the YAML adds each component's config type name, which the
manifest does not carry. The built binary itself: tests/integration/test_otelcol_binary.py."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from phoenix_core.pipelines.otelcol_validate import SECTIONS, pinned_components

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "otelcol" / "builder-config.yaml"
BUILD = ROOT / "deploy" / "otelcol" / "build.sh"


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return data


def _manifest_modules() -> list[tuple[str, str, str]]:
    """(kind, module, version) for every gomod line of the manifest's component sections."""
    data = _manifest()
    found = []
    for section, kind in SECTIONS.items():
        for entry in data.get(section) or []:
            module, version = entry["gomod"].split()
            found.append((kind, module, version))
    return found


def test_the_manifest_builds_otelcol_phoenix_at_the_pinned_release() -> None:
    dist = _manifest()["dist"]
    assert dist["name"] == "otelcol-phoenix"
    assert dist["module"]
    assert dist["description"]
    assert f"v{dist['version']}" == pinned_components().release


def test_the_manifest_and_the_validator_list_the_same_components() -> None:
    manifest = {(kind, module) for kind, module, _ in _manifest_modules()}
    pinned = {(c.kind, c.module) for c in pinned_components().components}
    assert sorted(manifest - pinned) == [], "in the manifest, not in otelcol_components.yaml"
    assert sorted(pinned - manifest) == [], "in otelcol_components.yaml, not in the manifest"
    assert len(_manifest_modules()) == len(manifest), "a module is listed twice"


def test_every_manifest_module_is_at_the_pinned_release() -> None:
    release = pinned_components().release
    assert {version for _, _, version in _manifest_modules()} == {release}


def test_the_manifest_has_no_other_sections() -> None:
    assert set(_manifest()) <= {"dist", *SECTIONS}


def test_the_build_script_parses_and_explains_itself() -> None:
    assert subprocess.run(["bash", "-n", str(BUILD)], check=False).returncode == 0
    shown = subprocess.run(
        ["bash", str(BUILD), "--help"], capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0
    assert "--cold" in shown.stdout
