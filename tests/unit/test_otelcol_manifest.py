"""The collector build manifest (deploy/otelcol/builder-config.yaml) and the component list the
config validator reads (phoenix_core/pipelines/otelcol_components.yaml) name the same components
at the same release, so a config the validator accepts names only components the built collector
has. The manifest is what gets built; the YAML adds each component's config type name, which the
manifest does not carry. When a built binary for the current manifest is in the cache
(deploy/otelcol/build.sh), its own `components` listing is checked against the type names too."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
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


def _cached_binary() -> Path:
    """Where build.sh puts the binary for the manifest as it is now."""
    cache = os.environ.get("PHOENIX_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "phoenix"
    )
    key = hashlib.sha256(MANIFEST.read_bytes()).hexdigest()[:16]
    return Path(cache) / "otelcol" / key / "otelcol-phoenix"


def test_a_built_collector_has_exactly_the_validators_component_types() -> None:
    binary = _cached_binary()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no collector built for this manifest ({binary}): run deploy/otelcol/build.sh")
    shown = subprocess.run(
        [str(binary), "components"], capture_output=True, text=True, check=True, timeout=60
    )
    listed = yaml.safe_load(shown.stdout)
    pinned = pinned_components()
    for section, kind in SECTIONS.items():
        built = {(c["name"], c["module"].split()[0]) for c in listed.get(section) or []}
        wanted = {(c.type, c.module) for c in pinned.components if c.kind == kind}
        assert built == wanted, section
