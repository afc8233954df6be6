"""The fast path never disagrees with the validator: whatever it accepts, the validator accepts the same way.

Checked on thousands of seeded random documents that mix every kind of fault with clean readings, and on the
JSON corner cases that differ between parsers (duplicate keys, huge numbers, whole floats as times).
"""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest

from gateway.ingest import fast
from gateway.ingest.validate import Limits, MetricRule, ValidationResult, validate

NOW = 1_764_320_000_000
DEV = "esp32-kitchen"
TAGS = {"site": "lab"}
LIMITS = Limits(max_readings=6, max_metrics=3)
SCHEMA = {"temperature": MetricRule("number", min=-40, max=125), "door": MetricRule("bool")}


def both(payload: bytes, **kw: Any) -> tuple[ValidationResult | None, ValidationResult | None]:
    """(fast verdict, validator verdict) on one MQTT payload; the validator's is None when it is not JSON."""
    args: dict[str, Any] = {"device_id": DEV, "tags": TAGS, "now_ms": NOW, "limits": LIMITS} | kw
    schema = args.pop("schema", None)
    allow = args.pop("allow_unknown_metrics", True)
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        document = None
    slow = None
    if isinstance(document, dict):
        document.pop("token", None)
        document.pop("cid", None)
        slow = validate(document, schema=schema, allow_unknown_metrics=allow, **args)
    batch = fast.decode(payload)
    quick = None if batch is None else fast.readings(batch, schema=schema, allow_unknown_metrics=allow, **args)
    return quick, slow


def agree(payload: bytes, **kw: Any) -> bool:
    """Assert the fast path accepts only what the validator accepts whole; True when the fast path took it."""
    quick, slow = both(payload, **kw)
    if quick is None:
        return False
    assert slow is not None, payload
    assert not slow.rejected and not slow.document_errors, payload
    assert [(r.ts_ms, dict(r.values), r.device_id, r.tags) for r in quick.readings] == [
        (r.ts_ms, dict(r.values), r.device_id, r.tags) for r in slow.readings
    ], payload
    assert all(
        type(v) is type(w)
        for q, s in zip(quick.readings, slow.readings, strict=True)
        for v, w in zip(q.values.values(), s.values.values(), strict=True)
    )
    return True


def random_value(rng: random.Random) -> Any:
    return rng.choice(
        [
            rng.uniform(-100, 100),
            rng.randint(-1000, 1000),
            True,
            False,
            2**53 + 1,
            10**400,
            -0.0,
            "text",
            "bad\n",
            None,
            [1],
            {"a": 1},
        ]
    )


def random_name(rng: random.Random) -> Any:
    return rng.choice(["temperature", "humidity", "door", "t", "site", "time", "_x", "9a", "", "a b", "x" * 65])


def random_reading(rng: random.Random) -> dict[str, Any]:
    reading: dict[str, Any] = {}
    ts_kind = rng.random()
    if ts_kind < 0.6:
        reading["ts"] = NOW - rng.randint(0, 1000)
    elif ts_kind < 0.7:
        reading["ts"] = rng.choice([NOW + 10**9, 0, -1, float(NOW), NOW + 0.5, "2025-11-28T08:53:20Z", None, True])
    if rng.random() < 0.95:
        size = rng.choice([0, 1, 1, 2, 3, 4])
        reading["values"] = {
            random_name(rng) if rng.random() < 0.3 else "temperature" if i == 0 else f"m{i}": (
                rng.uniform(-40, 125) if rng.random() < 0.7 else random_value(rng)
            )
            for i in range(size)
        }
    if rng.random() < 0.05:
        reading["device_id"] = rng.choice([DEV, "other"])
    if rng.random() < 0.03:
        reading["value"] = 1
    return reading


def random_payload(rng: random.Random) -> bytes:
    doc: dict[str, Any] = {"token": "t" * rng.choice([0, 20, 20, 20])}
    if rng.random() < 0.5:
        doc["cid"] = rng.choice([1, "a", None, [1]])
    if rng.random() < 0.95:
        doc["readings"] = [random_reading(rng) for _ in range(rng.choice([0, 1, 2, 3, 5, 7]))]
    else:
        doc.update(random_reading(rng))
    if rng.random() < 0.05:
        doc["device_id"] = rng.choice([DEV, "other", 5])
    if rng.random() < 0.02:
        doc["extra"] = 1
    return json.dumps(doc).encode()  # the stdlib writes integers of any size


@pytest.mark.parametrize("schema", [None, SCHEMA], ids=["no schema", "schema"])
def test_random_documents_agree(schema: dict[str, MetricRule] | None) -> None:
    rng = random.Random(20261128)
    taken = clean = 0
    for _ in range(4000):
        payload, allow = random_payload(rng), rng.random() < 0.5
        _, slow = both(payload, schema=schema, allow_unknown_metrics=allow)  # memoises names, as in service
        clean += slow is not None and bool(slow.readings) and not slow.rejected and not slow.document_errors
        taken += agree(payload, schema=schema, allow_unknown_metrics=allow)
    print(f"{taken} of {clean} wholly valid documents taken by the fast path")
    assert taken > 100 and taken >= clean // 2  # it does take the common ones


def test_clean_batch_is_taken_with_numbers_as_floats() -> None:
    payload = b'{"token":"x","cid":7,"readings":[{"ts":%d,"values":{"temperature":21}},{"values":{"door":true}}]}' % (
        NOW - 5
    )
    both(payload)
    assert agree(payload)
    quick, _ = both(payload)
    assert quick is not None
    assert [(r.ts_ms, r.values) for r in quick.readings] == [(NOW - 5, {"temperature": 21.0}), (NOW, {"door": True})]
    batch = fast.decode(payload)
    assert batch is not None and (batch.token, batch.cid) == ("x", 7)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"token":"x","readings":[{"ts":1764320000000,"ts":1764319999000,"values":{"temperature":1}}]}',
        b'{"token":"x","readings":[{"ts":1764320000000,"values":{"temperature":1,"temperature":500}}]}',
        b'{"token":"x","readings":[{"ts":1764320000000,"values":{"temperature":1e400}}]}',
        b'{"token":"x","readings":[{"ts":1764320000000,"values":{"temperature":%s}}]}' % (b"9" * 400),
        b'{"token":"x","readings":[{"ts":1764320000000.0,"values":{"temperature":1}}]}',
        b'{"token":"x","readings":[{"ts":1764320000000,"values":{"temperature":NaN}}]}',
        b'{"token":"x","readings":[{"ts":1764320000000,"values":{"temperature":1}}],"readings":[]}',
        b'{"token":"x","readings":[{"ts":1764320000000,"values":{"temperature":1}},{"ts":1764320000000,"values":{"humidity":1}}]}',
        b'{"token":"x","readings":[{"ts":1764320000000,"values":{"site":1}}]}',
        b'{"token":"x","readings":[{"ts":1764320000000,"values":{"temperature":"21"}}]}',
        b'{"token":"x","readings":[{"ts":1764320000000,"values":{}}]}',
        b'{"token":"x","ts":1764320000000,"values":{"temperature":1}}',
    ],
)
def test_parser_corner_cases_agree(payload: bytes) -> None:
    both(payload)
    agree(payload)
    agree(payload, schema=SCHEMA, allow_unknown_metrics=False)
