"""The experiment spec: valid specs parse; each bad one names the field at fault."""

from __future__ import annotations

from typing import Any

import pytest

from phoenix_core.errors import ValidationFailed
from phoenix_core.spec import REDACTED, REVEAL_SECRETS, STORED, ExperimentSpec, VariantRole
from support.specs import spec_data


def _paths(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        ExperimentSpec.parse(data)
    return [error.path for error in caught.value.errors]


def test_a_full_a_b_n_spec_parses() -> None:
    spec = ExperimentSpec.parse(spec_data())
    assert spec.baseline.name == "baseline"
    assert [v.name for v in spec.candidates] == ["topk20", "hybrid"]
    assert spec.candidates[0].role is VariantRole.CANDIDATE


MINIMAL: dict[str, Any] = {
    "name": "minimal",
    "hosts": ["web-1"],
    "variants": [
        {"name": "a", "role": "baseline", "template": "baseline"},
        {"name": "b", "role": "candidate", "template": "top-k"},
    ],
}


def test_defaults_are_the_documented_ones() -> None:
    spec = ExperimentSpec.parse(MINIMAL | {"load_profile": {"name": "high-cardinality"}})
    assert [s.kind for s in spec.sources] == ["loadsim", "node-exporter"]
    assert spec.sink.kind == "prometheus-remote-write"
    assert spec.sink.url is None
    assert spec.collector == "prometheus-agent"
    assert spec.load_profile is not None and spec.load_profile.parameters == {}


NODE = [{"name": "node", "kind": "node-exporter"}]


def _refusal(data: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        ExperimentSpec.parse(data)
    [error] = caught.value.errors
    return error.path, error.message


def test_a_loadsim_source_without_a_load_is_refused_naming_load_profile() -> None:
    """The default sources scrape the load: without a load_profile nothing would serve them."""
    path, message = _refusal(MINIMAL)
    assert path == "load_profile"
    assert message == (
        "source 'loadsim' (sources.0; the default sources are loadsim and node) scrapes the "
        "load the agent runs, and no load_profile is given: give a load_profile that serves "
        "series (profiles: high-cardinality or spike), or sources without a loadsim one (e.g. "
        "[{name: node, kind: node-exporter}])"
    )
    sources = [{"name": "node", "kind": "node-exporter"}, {"name": "load", "kind": "loadsim"}]
    path, message = _refusal(MINIMAL | {"sources": sources})
    assert path == "load_profile"
    assert message.startswith("source 'load' (sources.1) scrapes the load the agent runs")


def test_a_loadsim_source_under_a_load_that_serves_no_series_is_refused() -> None:
    path, message = _refusal(MINIMAL | {"load_profile": {"name": "realistic"}})
    assert path == "load_profile"
    assert "would scrape nothing, as the realistic load serves no series" in message


def test_a_load_that_serves_series_no_source_scrapes_is_refused() -> None:
    path, message = _refusal(MINIMAL | {"sources": NODE, "load_profile": {"name": "spike"}})
    assert path == "load_profile"
    assert message == (
        "the spike load serves series that no source scrapes: add a source "
        "{name: loadsim, kind: loadsim}, or leave the load out"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"sources": NODE},  # no load at all
        {"sources": NODE, "load_profile": {"name": "realistic"}},  # the node exporter reads it
        {"load_profile": {"name": "spike", "parameters": {"burst_series": 5000}}},
    ],
)  # fmt: skip
def test_loads_that_fit_their_sources_are_accepted(change: dict[str, Any]) -> None:
    assert ExperimentSpec.parse(MINIMAL | change).sources


def test_a_load_s_parameters_are_checked_against_its_profile() -> None:
    profile = {"name": "high-cardinality", "parameters": {"series": 0, "seriess": 5}}
    path, message = _refusal(MINIMAL | {"load_profile": profile})
    assert path == "load_profile.parameters"
    assert message == (
        "series: Input should be greater than or equal to 1; seriess: Extra inputs are not "
        "permitted"
    )


def test_a_stored_spec_from_before_the_load_checks_still_reads() -> None:
    """Specs accepted before a loadsim source needed a load are read back as they were (the
    deployer refuses to start them, naming load_profile)."""
    stored = ExperimentSpec.model_validate(MINIMAL, context=STORED)
    assert stored.load_profile is None
    assert stored.load_problem().startswith("source 'loadsim' (sources.0;")


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"variants": [{"name": "a", "role": "baseline", "template": "x"}]}, "variants"),
        (
            {
                "variants": [
                    {"name": "a", "role": "candidate", "template": "x"},
                    {"name": "b", "role": "candidate", "template": "x"},
                ]
            },
            "variants",
        ),
        (
            {
                "variants": [
                    {"name": "a", "role": "baseline", "template": "x"},
                    {"name": "a", "role": "candidate", "template": "x"},
                ]
            },
            "variants",
        ),
        (
            {
                "variants": [
                    {"name": "a", "role": "baseline", "template": "x"},
                    {"name": "Bad Name", "role": "candidate", "template": "x"},
                ]
            },
            "variants.1.name",
        ),
        ({"duration_seconds": 0}, "duration_seconds"),
        ({"warmup_seconds": -1}, "warmup_seconds"),
        ({"hosts": ["web-1"]}, "host_selector"),  # both hosts and selector given
        ({"host_selector": None}, "host_selector"),  # neither given
        ({"collector": "fluentd"}, "collector"),
        ({"sources": [{"name": "x", "kind": "scrape"}]}, "sources.0"),
        ({"gates": [{"kpi": "cpu_cores"}]}, "gates.0"),
        ({"gates": [{"kpi": "happiness", "max_value": 1}]}, "gates.0.kpi"),
        ({"gates": [{"kpi": "active_series", "min_change_percent": 5}]}, "gates.0"),
        ({"gates": [{"kpi": "critical_coverage", "max_change_percent": 5}]}, "gates.0"),
        ({"critical_selectors": ["up{job="]}, "critical_selectors"),
        ({"load_profile": {"name": "tornado"}}, "load_profile.name"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_specs_name_the_field(change: dict[str, Any], path: str) -> None:
    assert path in _paths(spec_data(**change))


def test_error_messages_are_readable() -> None:
    with pytest.raises(ValidationFailed) as caught:
        ExperimentSpec.parse(spec_data(duration_seconds=-5))
    assert str(caught.value) == ("Invalid input: duration_seconds: Input should be greater than 0")


@pytest.mark.parametrize(
    "selector",
    ["up", 'up{job="app"}', '{process=~"kube.*"}', 'a:b_c{x!="1", y!~"2"}', '{x="a\\"b"}'],
)
def test_selectors_accepted(selector: str) -> None:
    assert ExperimentSpec.parse(spec_data(critical_selectors=[selector])).critical_selectors


@pytest.mark.parametrize("selector", ["", "{", "up{job=app}", "1up", 'up{job="x"', "up}"])
def test_selectors_refused(selector: str) -> None:
    assert _paths(spec_data(critical_selectors=[selector])) == ["critical_selectors"]


def test_sink_secrets_are_redacted_unless_revealed() -> None:
    sink = {"url": "https://vendor.example/write", "bearer_token": "tok-123",
            "headers": {"X-Scope-OrgID": "tenant-7"}}  # fmt: skip
    spec = ExperimentSpec.parse(spec_data(sink=sink))
    shown = spec.model_dump(mode="json")["sink"]
    assert shown == {"kind": "prometheus-remote-write", "url": "https://vendor.example/write",
                     "bearer_token": REDACTED, "headers": {"X-Scope-OrgID": REDACTED}}  # fmt: skip
    assert "tok-123" not in spec.model_dump_json() and "tok-123" not in repr(spec)
    stored = spec.model_dump(mode="json", context=REVEAL_SECRETS)["sink"]
    assert (stored["bearer_token"], stored["headers"]) == ("tok-123", {"X-Scope-OrgID": "tenant-7"})
    assert ExperimentSpec.parse(spec.model_dump(mode="json", context=REVEAL_SECRETS)) == spec
    # an edit that sends the redacted values back keeps the stored ones; a new value replaces
    headers = {"X-Scope-OrgID": REDACTED, "X-Team": "obs"}
    edited = ExperimentSpec.parse(spec_data(sink={**shown, "headers": headers}))
    kept = edited.keeping_secrets_of(spec).sink
    assert sorted(kept.secrets()) == ["obs", "tenant-7", "tok-123"]


def test_headers_the_collectors_set_are_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        ExperimentSpec.parse(spec_data(sink={"headers": {"Authorization": "Basic x"}}))
    assert refused.value.errors[0].path == "sink.headers"
    assert "use bearer_token" in refused.value.errors[0].message


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        ({"kpi": "active_series", "max_change_percent": -30}, {"min_improvement": 0.30}),
        ({"kpi": "cpu_cores", "max_change_percent": 5}, {"max_worsening": 0.05}),
        ({"kpi": "export_errors", "max_change_percent": 0}, {"max_worsening": 0.0}),
        ({"kpi": "critical_coverage", "min_change_percent": -1}, {"max_worsening": 0.01}),
        ({"kpi": "host_balance", "min_value": 50}, {"floor": 50.0}),
    ],
)
def test_a_spec_gate_replaces_the_kpis_default_in_the_verdicts_terms(
    gate: dict[str, Any], expected: dict[str, float]
) -> None:
    from phoenix_core.spec import Gate

    verdict_gate = Gate.model_validate(gate).verdict_gate()
    bounds = ("min_improvement", "max_worsening", "floor", "ceiling")
    assert {
        k: getattr(verdict_gate, k) for k in bounds if getattr(verdict_gate, k) is not None
    } == (expected)
    assert verdict_gate.kpi in {
        "active_series",
        "collector_cpu_cores",
        "export_errors",
        "critical_coverage",
        "host_balance",
    }


def test_every_load_profile_the_spec_accepts_is_one_an_agent_runs() -> None:
    from phoenix_core.spec import LoadProfileName
    from phoenix_core.wire.loads import PARAMETERS

    assert {name.value for name in LoadProfileName} == set(PARAMETERS)


def test_usage_sources_name_stored_sources_or_one_of_their_versions() -> None:
    valid = MINIMAL | {"load_profile": {"name": "high-cardinality"}}
    spec = ExperimentSpec.parse(
        valid | {"usage_sources": ["node-rules", "web.dashboard@12", "Runbook_2"]}
    )
    assert spec.usage_sources == ["node-rules", "web.dashboard@12", "Runbook_2"]
    assert ExperimentSpec.parse(valid).usage_sources == []
    bad = ["ok", "rules/node", "-x", "x@0", "x@", "x@1@2", "x" * 101, "y@1234567890"]
    assert _paths(valid | {"usage_sources": bad}) == [
        f"usage_sources.{index}" for index in range(1, len(bad))
    ]
    assert _paths(valid | {"usage_sources": ["node-rules", "node-rules@2"]}) == ["usage_sources"]
