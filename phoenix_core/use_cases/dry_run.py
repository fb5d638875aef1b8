"""What a dry run answers: every variant rendered for every host (the deployer's plans), each
variant's forecast, and warnings where a candidate cannot save anything.

The forecast is the forecast simulator's (``phoenix_core.pipelines.simulator.forecast``) for
each variant's pipeline as the deployer renders it (the experiment's critical selectors
included), over the series its collector would read on a host:

- where the baseline's complete inventory on the host is known (a started experiment): those
  series, of every source;
- elsewhere: the series of the ``loadsim`` sources, which the load profile fixes exactly
  (``phoenix_core.wire.loads``) and which are the same on every host. Other sources' series are
  known only once the baseline runs; ``based_on`` names those left out.

Each warning names the variant, the step and why: a step the collector runs without ever
lowering the series count (``Support.keeps_series``), and refuses where the forecast shows it
merging series; a candidate whose forecast equals the baseline's; no forecast at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field, ValidationError

from phoenix_core.controller.deployment import PREVIEW_LOADSIM_PORT, Deployer, PlannedCollector
from phoenix_core.pipelines.collectors import SUPPORT
from phoenix_core.pipelines.inventory import NAME, VALUE, normalize_inventory
from phoenix_core.pipelines.ir import DropLabels, Pipeline
from phoenix_core.pipelines.simulator import Forecast, forecast
from phoenix_core.spec import ExperimentSpec, VariantRole, VariantSpec
from phoenix_core.wire.loads import (
    FAMILIES,
    HighCardinalityParameters,
    SpikeParameters,
    process_labels,
)

__all__ = ["DryRun", "DryRunWarning", "StepForecast", "VariantForecast", "forecast_variants"]


class StepForecast(BaseModel):
    step: int = Field(description="The step's index in the variant's pipeline (steps.N).")
    kind: str
    series_in: int
    series_out: int


class VariantForecast(BaseModel):
    """One variant's forecast on one host, or on every host alike (``host`` null)."""

    variant: str
    role: VariantRole
    host: str | None = Field(
        description="The host whose measured series it is from; null: from the load, the "
        "same on every host that has no measured series yet."
    )
    unit: Literal["series"] = Field(
        default="series", description="Of series_in and series_out: series on one host."
    )
    series_in: int = Field(description="The series forecast for the collector to read.")
    series_out: int = Field(description="The series the variant would write.")
    change_percent: float | None = Field(
        description="series_out against the baseline's on the same series; null for the "
        "baseline, or when the baseline writes none."
    )
    protected: int = Field(description="Output series a protect step exempted.")
    steps: list[StepForecast]
    based_on: str = Field(description="What the forecast was computed over, and what it left out.")


class DryRunWarning(BaseModel):
    variant: str | None = Field(description="The variant it is about; null: the experiment.")
    step: int | None = Field(description="The step's index in the variant's pipeline.")
    kind: str | None = Field(description="The step's kind.")
    host: str | None = Field(description="The host whose measured series show it, if one.")
    message: str


class DryRun(BaseModel):
    """What a start would deploy, and what it would save: nothing is deployed."""

    plans: list[PlannedCollector] = Field(description="Every variant rendered for every host.")
    forecast: list[VariantForecast] = Field(
        description="Each variant's series before and after, from the forecast simulator."
    )
    warnings: list[DryRunWarning] = Field(
        description="Candidates that cannot save anything here, and why."
    )


@dataclass(frozen=True)
class _Basis:
    """Series a forecast runs over: on ``host``, or (None) on every host from the load."""

    host: str | None
    inventory: pd.DataFrame
    based_on: str
    series: str
    """The series, in a phrase: ``the 2,000 series of source loadsim``."""


def forecast_variants(
    deployer: Deployer,
    spec: ExperimentSpec,
    hostnames: list[str],
    measured: dict[str, pd.DataFrame],
) -> tuple[list[VariantForecast], list[DryRunWarning]]:
    """Every variant's forecast, from the baseline's complete series on each host in
    ``measured`` (by hostname) and from the load elsewhere, with the warnings they show."""
    pipelines = {variant.name: deployer.pipeline(spec, variant) for variant in spec.variants}
    bases, warnings = _bases(deployer, spec, hostnames, measured)
    forecasts: list[VariantForecast] = []
    results: list[tuple[_Basis, dict[str, Forecast]]] = []
    for basis in bases:
        found = {name: forecast(p, basis.inventory) for name, p in pipelines.items()}
        results.append((basis, found))
        baseline = found[spec.baseline.name].output_series
        forecasts += [_entry(v, basis, found[v.name], baseline) for v in spec.variants]
    for variant in spec.candidates:
        warnings += _keeps_series(spec, variant, pipelines[variant.name], results)
        for basis, found in results:
            warnings += _as_the_baseline(spec, variant, pipelines[variant.name], basis, found)
    return forecasts, warnings


def _entry(variant: VariantSpec, basis: _Basis, result: Forecast, baseline: int) -> VariantForecast:
    change = None
    if variant.role is VariantRole.CANDIDATE and baseline:
        change = round((result.output_series - baseline) / baseline * 100, 2)
    return VariantForecast(
        variant=variant.name,
        role=variant.role,
        host=basis.host,
        series_in=result.input_series,
        series_out=result.output_series,
        change_percent=change,
        protected=result.protected,
        steps=[
            StepForecast(step=e.index, kind=e.kind, series_in=e.series_in, series_out=e.series_out)
            for e in result.effects
        ],
        based_on=basis.based_on,
    )


# --- what the forecast runs over -------------------------------------------------------------


def _bases(
    deployer: Deployer,
    spec: ExperimentSpec,
    hostnames: list[str],
    measured: dict[str, pd.DataFrame],
) -> tuple[list[_Basis], list[DryRunWarning]]:
    bases = []
    for host in hostnames:
        if host in measured:
            inventory = measured[host]
            jobs = sorted(set(inventory["job"]) - {""}) if "job" in inventory.columns else []
            bases.append(
                _Basis(
                    host,
                    inventory,
                    f"the baseline's complete series on host {host} at the receiver: "
                    f"{len(inventory):,} series of {_names(jobs) or 'its sources'}",
                    f"the {len(inventory):,} series measured on host {host}",
                )
            )
    rest = [host for host in hostnames if host not in measured]
    if not rest:
        return bases, []
    load, why = _load_basis(deployer, spec, rest if bases else [])
    if load is None:
        return bases, [_warning(f"No forecast{_on(rest, bases)}: {why}.")]
    return [*bases, load], []


def _load_basis(
    deployer: Deployer, spec: ExperimentSpec, only: list[str]
) -> tuple[_Basis | None, str]:
    """The series the load serves to the loadsim sources, or None and why there are none."""
    targets = {t.job: t for t in deployer.targets(spec, PREVIEW_LOADSIM_PORT)}
    loadsim = [s.name for s in spec.sources if s.kind == "loadsim"]
    others = [
        f"{s.name} ({s.kind}{' ' + s.address if s.address else ''})"
        for s in spec.sources
        if s.kind != "loadsim"
    ]
    if not loadsim or spec.load_profile is None or spec.load_problem():
        return None, (
            f"the series of {_names(others)} are known only once the baseline runs; a dry run "
            "of the started experiment forecasts from them"
        )
    profile = spec.load_profile
    kind = SpikeParameters if profile.name.value == "spike" else HighCardinalityParameters
    try:
        parameters = kind.model_validate(profile.parameters)
    except ValidationError as exc:  # a stored spec from before the spec checked them
        return None, f"load_profile.parameters do not fit the {profile.name.value} load: {exc}"
    families = FAMILIES[: parameters.metrics]
    labels = [process_labels(0, i) for i in range(parameters.series)]
    frames = [
        pd.DataFrame(
            {
                NAME: name,
                "job": job,
                "instance": targets[job].address,
                "process": [process for process, _ in labels],
                "pid": [pid for _, pid in labels],
                VALUE: [value(i) for i in range(parameters.series)],
            }
        )
        for job in loadsim
        for name, _, value in families
    ]
    inventory = normalize_inventory(pd.concat(frames, ignore_index=True))
    count = f"{parameters.series:,} processes × {len(families)} metrics"
    shape = f"the {profile.name.value} load's {count} = {len(inventory):,} series"
    if isinstance(parameters, SpikeParameters):
        shape += (
            f" between bursts (not forecast: {parameters.burst_series:,} processes for "
            f"{parameters.burst_seconds:g} s of every {parameters.every_seconds:g} s)"
        )
    if parameters.churn_seconds:
        shape += f", renamed every {parameters.churn_seconds:g} s (new series each time)"
    based_on = f"source {_names(loadsim)}: {shape}, " + (
        f"on each of {', '.join(only)} (no measured series there yet)" if only else "per host"
    )
    if others:
        based_on += (
            f"; not forecast: {_names(others)}, whose series are known once the baseline runs"
        )
    series = f"the {len(inventory):,} series of source {_names(loadsim)}"
    return _Basis(None, inventory, based_on, series), ""


def _names(names: list[str]) -> str:
    return ", ".join(names)


def _on(hosts: list[str], measured: list[_Basis]) -> str:
    return f" on {', '.join(hosts)}" if measured else ""


# --- warnings --------------------------------------------------------------------------------


def _warning(
    message: str,
    variant: str | None = None,
    step: int | None = None,
    kind: str | None = None,
    host: str | None = None,
) -> DryRunWarning:
    return DryRunWarning(variant=variant, step=step, kind=kind, host=host, message=message)


def _keeps_series(
    spec: ExperimentSpec,
    variant: VariantSpec,
    pipeline: Pipeline,
    results: list[tuple[_Basis, dict[str, Forecast]]],
) -> list[DryRunWarning]:
    """A step the collector runs without lowering the series count: it saves nothing, or the
    deploy refuses it where the forecast shows it merging series."""
    collector = spec.collector.value
    warnings = []
    for index, step in enumerate(pipeline.steps):
        reason = SUPPORT[spec.collector][step.kind].keeps_series
        if not reason:
            continue
        where = f"{variant.name}, steps.{index} ({step.kind})"
        merging = [
            (basis, effect)
            for basis, found in results
            if (effect := found[variant.name].effects[index]).series_out < effect.series_in
        ]
        for basis, effect in merging:
            merged = effect.series_in - effect.series_out
            message = (
                f"{where} merges {merged:,} of {basis.series} in the forecast, and {collector}"
                f" refuses that once the baseline's series show it (a start fails): {reason}"
            )
            warnings.append(_warning(message, variant.name, index, step.kind, basis.host))
        if not merging:
            message = f"{where} cannot lower the series count on {collector}: {reason}"
            warnings.append(_warning(message, variant.name, index, step.kind))
    return warnings


def _as_the_baseline(
    spec: ExperimentSpec,
    variant: VariantSpec,
    pipeline: Pipeline,
    basis: _Basis,
    found: dict[str, Forecast],
) -> list[DryRunWarning]:
    """A candidate whose forecast equals the baseline's: each step that removes none of the
    series, and why, or that it removes only as many as the baseline does."""
    result, baseline = found[variant.name], found[spec.baseline.name]
    if result.output_series != baseline.output_series:
        return []
    name = variant.name
    same = f"so {name}'s forecast equals the baseline's: {baseline.output_series:,} series"
    reducing = [e for e in result.effects if e.kind != "protect"]
    idle = [e.index for e in reducing if e.series_out == e.series_in]
    if not reducing:
        return [_warning(f"{name} has no step that removes series, {same}", name, host=basis.host)]
    if len(idle) < len(reducing):
        message = f"{name} removes as many of {basis.series} as the baseline does, {same}"
        return [_warning(message, name, host=basis.host)]
    warnings = []
    for index in idle:
        step = pipeline.steps[index]
        why = ""
        if isinstance(step, DropLabels):
            verb = "is" if len(step.labels) == 1 else "are"
            why = f" (no two coincide once {', '.join(step.labels)} {verb} removed)"
        message = f"{name}, steps.{index} ({step.kind}) removes none of {basis.series}{why}, {same}"
        warnings.append(_warning(message, name, index, step.kind, basis.host))
    return warnings
