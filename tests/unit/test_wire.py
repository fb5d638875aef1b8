"""Contract test: every task payload and heartbeat survives a JSON round trip unchanged."""

from __future__ import annotations

import json
import uuid

import pytest

from phoenix_core.errors import ValidationFailed
from phoenix_core.wire import (
    PAYLOAD_MODELS,
    CollectorKind,
    Heartbeat,
    TaskAction,
    TaskType,
    parse_payload,
)

EXPERIMENT = uuid.uuid4()
SHA = "a" * 64

EXAMPLES = {
    (TaskType.COLLECTOR, TaskAction.START): {
        "experiment_id": str(EXPERIMENT),
        "variant": "baseline",
        "collector": "prometheus-agent",
        "config_sha256": SHA,
        "config_url": f"/agent/v1/configs/{SHA}",
        "ports": {"http": 19100},
    },
    (TaskType.COLLECTOR, TaskAction.RELOAD): {
        "experiment_id": str(EXPERIMENT),
        "variant": "topk",
        "collector": "otelcol",
        "config_sha256": SHA,
        "config_url": f"/agent/v1/configs/{SHA}",
    },
    (TaskType.COLLECTOR, TaskAction.STOP): {"experiment_id": str(EXPERIMENT), "variant": "topk"},
    (TaskType.LOADSIM, TaskAction.START): {
        "experiment_id": str(EXPERIMENT),
        "profile": "high-cardinality",
        "parameters": {"series": 5000},
        "duration_seconds": 60,
    },
    (TaskType.LOADSIM, TaskAction.STOP): {"experiment_id": str(EXPERIMENT)},
    (TaskType.NOOP, TaskAction.RUN): {"note": "benchmark"},
}


def test_every_payload_model_has_an_example() -> None:
    assert set(EXAMPLES) == set(PAYLOAD_MODELS)


@pytest.mark.parametrize("key", list(EXAMPLES), ids=lambda k: f"{k[0]}/{k[1]}")
def test_payloads_round_trip(key: tuple[TaskType, TaskAction]) -> None:
    payload = parse_payload(key[0], key[1], EXAMPLES[key])
    assert payload.schema_version == 1
    again = parse_payload(key[0], key[1], json.loads(payload.model_dump_json()))
    assert again == payload


def test_bad_payload_names_the_field() -> None:
    data = dict(EXAMPLES[(TaskType.COLLECTOR, TaskAction.START)], config_sha256="xyz")
    with pytest.raises(ValidationFailed) as caught:
        parse_payload("collector", "start", data)
    assert [e.path for e in caught.value.errors] == ["payload.config_sha256"]


def test_unknown_type_action_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="unknown task type/action 'collector/run'"):
        parse_payload("collector", "run", {})


def test_unknown_payload_fields_are_refused() -> None:
    with pytest.raises(ValidationFailed, match=r"payload\.surprise"):
        parse_payload("noop", "run", {"surprise": True})


def test_heartbeat_round_trips() -> None:
    heartbeat = Heartbeat.model_validate(
        {
            "agent_version": "0.1.0",
            "status": "degraded",
            "active_tasks": [1, 2],
            "resource_usage": {
                "cpu_percent": 150.0,
                "memory_percent": 50,
                "memory_bytes": 10,
                "disk_percent": 3,
            },
            "active_pipelines": [
                {
                    "experiment_id": str(EXPERIMENT),
                    "variant": "baseline",
                    "config_sha256": SHA,
                    "status": "crash_looping",
                    "pid": None,
                    "restarts": 7,
                },
            ],
        }
    )
    assert Heartbeat.model_validate_json(heartbeat.model_dump_json()) == heartbeat
    assert heartbeat.active_pipelines[0].status == "crash_looping"
    assert CollectorKind("otelcol") is CollectorKind.OTELCOL
