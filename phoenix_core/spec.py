"""The experiment spec: what to compare, where, under which load, for how long, judged how.

Validated with pydantic; ``ExperimentSpec.parse`` turns any input into a spec or a
``ValidationFailed`` that names the field at fault.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    SecretStr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from phoenix_core.analysis.gates import Direction
from phoenix_core.analysis.gates import Gate as VerdictGate
from phoenix_core.errors import NotFound, ValidationFailed
from phoenix_core.metrics.catalog import builtin_catalog
from phoenix_core.pipelines.selectors import SelectorError, parse_selector
from phoenix_core.wire.loads import PARAMETERS, SERVING_PROFILES
from phoenix_core.wire.tasks import CollectorKind

__all__ = [
    "REDACTED",
    "REVEAL_SECRETS",
    "STORED",
    "USAGE_SOURCE_NAME",
    "ExperimentSpec",
    "Gate",
    "LoadProfile",
    "LoadProfileName",
    "Sink",
    "Source",
    "VariantRole",
    "VariantSpec",
]

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
"""A variant or source name: lowercase letters, digits, ``-`` and ``_``, at most 63 long."""

USAGE_SOURCE_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
"""A usage source's name, like a file's (``node-rules``, ``web.dashboard``): letters, digits,
``.``, ``_`` and ``-``, beginning with a letter or digit, at most 100 long."""

UsageSourceRef = Annotated[
    str, StringConstraints(pattern=rf"^{USAGE_SOURCE_NAME}(@[1-9][0-9]{{0,8}})?$")
]
"""A stored usage source, its latest version (``node-rules``) or one version (``node-rules@2``)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariantRole(StrEnum):
    BASELINE = "baseline"
    CANDIDATE = "candidate"


class VariantSpec(_Model):
    """One pipeline under test: a template at a version, with its variables."""

    name: Name = Field(
        description="Unique in the experiment; its series carry it as phoenix_variant."
    )
    role: VariantRole = Field(
        description="One variant is the baseline; candidates are judged against it."
    )
    template: str = Field(
        min_length=1,
        max_length=100,
        description="A pipeline template (GET /api/v1/pipelines/templates; docs/pipelines.md).",
    )
    template_version: int | None = Field(
        default=None, ge=1, description="Template version; unset means the newest."
    )
    variables: dict[str, Any] = Field(
        default_factory=dict, description="The template's variables, checked against its types."
    )


class Source(_Model):
    """Something the collectors read on each host."""

    name: Name = Field(description="The source's name, unique in the experiment; its scrape job.")
    kind: Literal["loadsim", "node-exporter", "scrape"] = Field(
        description="loadsim: the load the agent starts (needs a load_profile that serves "
        "series: high-cardinality or spike); node-exporter: the controller's "
        "node_exporter_address on each host; scrape: address."
    )
    address: str | None = Field(
        default=None, description="host:port to scrape; required for kind 'scrape'."
    )
    metrics_path: str = Field(default="/metrics", description="The path scraped.")

    @model_validator(mode="after")
    def _address_for_scrape(self) -> Self:
        if self.kind == "scrape" and not self.address:
            raise ValueError("a 'scrape' source needs an address (host:port)")
        return self


def _default_sources() -> list[Source]:
    return [Source(name="loadsim", kind="loadsim"), Source(name="node", kind="node-exporter")]


REDACTED = "**********"
"""What a secret looks like in every response, event and log line."""
REVEAL_SECRETS = {"reveal_secrets": True}
"""Serialisation context that writes secrets in clear: only the store and the compilers."""
STORED = {"stored": True}
"""Validation context of a spec read back from the store: the checks of a ``loadsim`` source's
load, added after specs without one were accepted, are left to the deployer, which refuses such
a spec at start and dry run (naming ``load_profile``), so stored experiments still read."""

HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,100}$")]

# headers the collectors set themselves (Prometheus refuses them in remote_write.headers)
_RESERVED_HEADERS = frozenset(
    {
        "authorization", "content-encoding", "content-length", "content-type", "user-agent",
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
        "www-authenticate", "accept-encoding", "x-prometheus-remote-write-version",
        "x-prometheus-remote-read-version", "x-amz-date", "x-amz-security-token",
        "x-amz-content-sha256",
    }
)  # fmt: skip


class Sink(_Model):
    """Where the collectors write; an unset URL means the remote-write URL from settings.

    ``bearer_token`` and ``headers`` carry credentials (a vendor's API key, a tenant id): they
    are stored as given and reach the collectors' configs, and are shown as ``**********``
    everywhere else. An update that sends ``**********`` back keeps the stored value.
    """

    kind: Literal["prometheus-remote-write", "otlphttp"] = "prometheus-remote-write"
    url: str | None = Field(
        default=None,
        description="The remote-write URL; unset: the controller's remote_write_url.",
    )
    bearer_token: SecretStr | None = Field(
        default=None, description="Sent as 'Authorization: Bearer …' with every write. Secret."
    )
    headers: dict[HeaderName, SecretStr] = Field(
        default_factory=dict,
        max_length=20,
        description="Extra HTTP headers on every write (e.g. X-Scope-OrgID). Values are secret.",
    )

    @field_validator("headers")
    @classmethod
    def _not_reserved(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        reserved = sorted(name for name in value if name.lower() in _RESERVED_HEADERS)
        if reserved:
            raise ValueError(
                f"{', '.join(reserved)} cannot be set here (use bearer_token for Authorization)"
            )
        return value

    @field_serializer("bearer_token", when_used="json")
    def _token_out(self, value: SecretStr | None, info: FieldSerializationInfo) -> str | None:
        return None if value is None else _reveal(value, info)

    @field_serializer("headers", when_used="json")
    def _headers_out(
        self, value: dict[str, SecretStr], info: FieldSerializationInfo
    ) -> dict[str, str]:
        return {name: _reveal(secret, info) for name, secret in value.items()}

    def secrets(self) -> list[str]:
        """Every secret value in clear (for the compilers, and for redacting text)."""
        found = [secret.get_secret_value() for secret in self.headers.values()]
        if self.bearer_token is not None:
            found.append(self.bearer_token.get_secret_value())
        return found

    def keeping_secrets_of(self, stored: Sink) -> Sink:
        """This sink, with each secret given as ``**********`` taken from ``stored``."""
        headers = {
            name: stored.headers.get(name, secret)
            if secret.get_secret_value() == REDACTED
            else secret
            for name, secret in self.headers.items()
        }
        token = self.bearer_token
        if token is not None and token.get_secret_value() == REDACTED:
            token = stored.bearer_token or token
        return self.model_copy(update={"headers": headers, "bearer_token": token})


def _reveal(secret: SecretStr, info: FieldSerializationInfo) -> str:
    context = info.context or {}
    return secret.get_secret_value() if context.get("reveal_secrets") else REDACTED


class LoadProfileName(StrEnum):
    HIGH_CARDINALITY = "high-cardinality"
    REALISTIC = "realistic"
    SPIKE = "spike"
    PROCESS_CHURN = "process-churn"
    CUSTOM = "custom"


class LoadProfile(_Model):
    """The load the agent generates on each host for a ``loadsim`` source."""

    name: LoadProfileName = Field(description="The shape of the load.")
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="The profile's parameters, checked against the profile's own (e.g. "
        "series: processes; docs/examples/experiment.yaml lists them).",
    )

    @field_validator("parameters")
    @classmethod
    def _parameters_of_the_profile(cls, value: dict[str, Any], info: ValidationInfo) -> Any:
        kind = PARAMETERS.get(str(info.data.get("name", "")))
        if kind is None or _stored(info):  # no such profile: 'name' says so
            return value
        try:
            kind.model_validate(value)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(problems) from None
        return value


def _load_problem(sources: list[Source], profile: LoadProfile | None) -> str:
    """Why the ``loadsim`` sources would scrape nothing under ``profile``, or why the load
    would serve series nobody scrapes ("" when neither): without a load nothing serves a
    loadsim source, only some loads serve series, and those need a loadsim source."""
    loadsim = [(i, s) for i, s in enumerate(sources) if s.kind == "loadsim"]
    serves = profile is not None and profile.name.value in SERVING_PROFILES
    if serves and not loadsim:
        assert profile is not None
        return (
            f"the {profile.name.value} load serves series that no source scrapes: add a source "
            "{name: loadsim, kind: loadsim}, or leave the load out"
        )
    if not loadsim or serves:
        return ""
    index, source = loadsim[0]
    which = f"source {source.name!r} (sources.{index}"
    which += "; the default sources are loadsim and node)" if sources == _default_sources() else ")"
    serving = " or ".join(SERVING_PROFILES)
    if profile is None:
        problem = f"{which} scrapes the load the agent runs, and no load_profile is given"
    else:
        problem = f"{which} would scrape nothing, as the {profile.name.value} load serves no series"
    return (
        f"{problem}: give a load_profile that serves series (profiles: {serving}), or "
        "sources without a loadsim one (e.g. [{name: node, kind: node-exporter}])"
    )


def _stored(info: ValidationInfo) -> bool:
    return bool((info.context or {}).get("stored"))


class Gate(_Model):
    """A pass condition on one KPI of each candidate; it replaces that KPI's default gate.

    ``kpi`` is a name or alias in the KPI catalog (``docs/kpis.md``: ``active_series``,
    ``cpu_cores`` …). ``max_change_percent`` bounds the change against the baseline of a KPI
    that is better lower (``-20``: at least 20 % lower; ``10``: at most 10 % higher; ``0``: no
    increase), ``min_change_percent`` that of a KPI that is better higher; ``min_value`` and
    ``max_value`` bound each of the candidate's own samples. Whether the gate is critical and
    whether the KPI must have data stay the catalog's.
    """

    kpi: str = Field(
        min_length=1, max_length=64, description="A KPI's name or alias (docs/kpis.md)."
    )
    max_change_percent: float | None = Field(
        default=None, gt=-100, description="Better-lower KPIs: the largest change allowed."
    )
    min_change_percent: float | None = Field(
        default=None, gt=-100, description="Better-higher KPIs: the smallest change allowed."
    )
    min_value: float | None = Field(default=None, description="Every sample at least this.")
    max_value: float | None = Field(default=None, description="Every sample at most this.")
    tolerance: float | None = Field(
        default=None,
        gt=0,
        description="In the KPI's unit: a difference this small does not matter (default: "
        "the catalog's).",
    )

    @field_validator("kpi")
    @classmethod
    def _known_kpi(cls, value: str) -> str:
        catalog = builtin_catalog()
        try:
            catalog.get(value)
        except NotFound:
            known = ", ".join(catalog.names())
            raise ValueError(f"no KPI is named {value!r} (known: {known})") from None
        return value

    @model_validator(mode="after")
    def _bounds_fit_the_kpi(self) -> Self:
        bounds = (self.max_change_percent, self.min_change_percent, self.min_value, self.max_value)
        if all(bound is None for bound in bounds):
            raise ValueError("a gate needs at least one bound")
        kpi = builtin_catalog().get(self.kpi)
        lower = kpi.better is Direction.LOWER
        wrong = self.min_change_percent if lower else self.max_change_percent
        if wrong is not None:
            right = "max_change_percent" if lower else "min_change_percent"
            raise ValueError(
                f"{kpi.name} is better {kpi.better.value}: bound its change with {right}"
            )
        if (
            self.min_value is not None
            and self.max_value is not None
            and self.min_value > self.max_value
        ):
            raise ValueError("min_value is above max_value")
        return self

    def verdict_gate(self) -> VerdictGate:
        """This gate as the verdict applies it, with the KPI's unit, criticality, data rule,
        spread test and centre from the catalog."""
        kpi = builtin_catalog().get(self.kpi)
        data: dict[str, Any] = {
            name: value
            for name, value in kpi.verdict_gate().items()
            if name not in ("min_improvement", "max_worsening", "floor", "ceiling")
        }
        change = self.max_change_percent if self.max_change_percent is not None else None
        if self.min_change_percent is not None:
            change = -self.min_change_percent  # as a change in the worse direction
        if change is not None:
            data["min_improvement" if change < 0 else "max_worsening"] = abs(change) / 100
        if self.min_value is not None:
            data["floor"] = self.min_value
        if self.max_value is not None:
            data["ceiling"] = self.max_value
        if self.tolerance is not None:
            data["tolerance"] = self.tolerance
        return VerdictGate.parse(data)


class ExperimentSpec(_Model):
    """Everything an experiment needs; persisted whole by the store."""

    name: str = Field(min_length=1, max_length=200, description="What people call it.")
    description: str = Field(default="", max_length=4000, description="Why it is run.")
    variants: list[VariantSpec] = Field(
        min_length=2, description="One baseline and one or more candidates."
    )
    collector: CollectorKind = Field(
        default=CollectorKind.PROMETHEUS_AGENT,
        description="The collector every variant runs on every host.",
    )
    hosts: list[str] | None = Field(
        default=None, min_length=1, description="Hostnames to run on; or give host_selector."
    )
    host_selector: dict[str, str] | None = Field(
        default=None,
        min_length=1,
        validate_default=True,
        description="Run on every active host with all these labels; or give hosts.",
    )
    sources: list[Source] = Field(
        default_factory=_default_sources,
        min_length=1,
        description="What the collectors scrape on each host (default: loadsim and node).",
    )
    sink: Sink = Field(default_factory=Sink, description="Where the collectors write.")
    load_profile: LoadProfile | None = Field(
        default=None,
        validate_default=True,
        description="The load the agent generates on each host; required with a loadsim "
        "source (high-cardinality or spike: the loads that serve series).",
    )
    warmup_seconds: float = Field(
        default=60.0, ge=0, description="Seconds after every variant runs before measuring."
    )
    duration_seconds: float = Field(
        default=600.0, gt=0, description="Seconds measured: the window the verdict judges."
    )
    critical_selectors: list[str] = Field(
        default_factory=list,
        description="Series selectors every candidate must keep (critical coverage, 100 %).",
    )
    gates: list[Gate] = Field(
        default_factory=list,
        description="Replace KPIs' default gates (docs/analysis.md); the rest stay.",
    )
    usage_sources: list[UsageSourceRef] = Field(
        default_factory=list,
        description="Stored usage sources (docs/usage.md): the rule files, dashboards and "
        "query lists that read the fleet's metrics, as NAME (its latest version) or "
        "NAME@VERSION. Each must exist when the experiment is created, edited and started. "
        "Their queries are the query guardrail's (KPI queries_preserved, docs/guardrail.md): "
        "without any, that KPI is not judged.",
    )

    @field_validator("critical_selectors")
    @classmethod
    def _selectors_parse(cls, value: list[str]) -> list[str]:
        for index, selector in enumerate(value):
            try:
                parse_selector(selector)
            except SelectorError as exc:
                raise ValueError(f"item {index} is not a usable series selector: {exc}") from None
        return value

    @field_validator("usage_sources")
    @classmethod
    def _each_usage_source_once(cls, value: list[str]) -> list[str]:
        names = [reference.partition("@")[0] for reference in value]
        if len(set(names)) != len(names):
            raise ValueError("name each usage source once")
        return value

    @field_validator("variants")
    @classmethod
    def _one_baseline_unique_names(cls, value: list[VariantSpec]) -> list[VariantSpec]:
        roles = [variant.role for variant in value]
        if roles.count(VariantRole.BASELINE) != 1:
            raise ValueError("exactly one variant must have role 'baseline'")
        names = [variant.name for variant in value]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be unique")
        return value

    @field_validator("host_selector")
    @classmethod
    def _hosts_xor_selector(
        cls, value: dict[str, str] | None, info: ValidationInfo
    ) -> dict[str, str] | None:
        if "hosts" not in info.data:  # 'hosts' itself was invalid and is reported already
            return value
        if (info.data["hosts"] is None) == (value is None):
            raise ValueError("give exactly one of 'hosts' (a list) or 'host_selector' (labels)")
        return value

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, value: list[Source]) -> list[Source]:
        names = [source.name for source in value]
        if len(set(names)) != len(names):
            raise ValueError("source names must be unique")
        return value

    @field_validator("load_profile")
    @classmethod
    def _loadsim_sources_have_a_load(
        cls, value: LoadProfile | None, info: ValidationInfo
    ) -> LoadProfile | None:
        if "sources" not in info.data or _stored(info):  # bad sources are reported already
            return value
        if problem := _load_problem(info.data["sources"], value):
            raise ValueError(problem)
        return value

    @property
    def baseline(self) -> VariantSpec:
        return next(v for v in self.variants if v.role is VariantRole.BASELINE)

    @property
    def candidates(self) -> list[VariantSpec]:
        return [v for v in self.variants if v.role is VariantRole.CANDIDATE]

    def load_problem(self) -> str:
        """Why its ``loadsim`` sources would scrape nothing ("" when they would not)."""
        return _load_problem(self.sources, self.load_profile)

    def keeping_secrets_of(self, stored: ExperimentSpec) -> ExperimentSpec:
        """This spec, with each secret given as ``**********`` taken from ``stored``."""
        return self.model_copy(update={"sink": self.sink.keeping_secrets_of(stored.sink)})

    @classmethod
    def parse(cls, data: Any) -> ExperimentSpec:
        """Validate ``data``; raise ``ValidationFailed`` naming each field at fault."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed.from_pydantic(exc) from exc
