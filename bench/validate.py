"""Readings per second through ingest validation, for 100-reading batches of two metrics on one core.

Prints each path beside a floor (building the same Readings with no checks), so the ratio stays comparable
between runs on a shared machine. Run: ``.venv/bin/python bench/validate.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from gateway.ingest.validate import Limits, MetricRule, parse_body, validate
from gateway.storage.base import Reading

BATCH = 100
SECONDS = 1.5
NOW = 1_764_320_000_000
LIMITS = Limits()
TAGS = {"site": "lab"}
SCHEMA = {"temperature": MetricRule(min=-40, max=125, unit="Cel"), "humidity": MetricRule(min=0, max=100)}


def rate(step: Callable[[], object]) -> float:
    """Readings per second of ``step`` (one batch per call), best of three bounded runs."""
    best = 0.0
    for _ in range(3):
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < SECONDS / 3:
            for _ in range(20):
                step()
            calls += 20
        best = max(best, calls * BATCH / elapsed)
    return best


def main() -> None:
    items: list[dict[str, Any]] = [
        {"ts": NOW - 1000 * i, "values": {"temperature": 21.5 + i % 7, "humidity": 40.2}} for i in range(BATCH)
    ]
    native = {"readings": items}
    ints = {"readings": [{"ts": r["ts"], "values": {"temperature": 21, "humidity": 40}} for r in items]}
    senml: list[dict[str, Any]] = [
        {"n": metric, "t": -i, "v": 21.5} for i in range(BATCH) for metric in ("temperature", "humidity")
    ]
    senml[0] |= {"bn": "dev-1:", "bt": NOW / 1000, "bu": "Cel"}
    body = orjson.dumps(native)

    def floor() -> object:
        return [Reading("dev-1", r["ts"], r["values"], TAGS) for r in items]

    def check(doc: object, **options: Any) -> Callable[[], object]:
        return lambda: validate(doc, device_id="dev-1", tags=TAGS, now_ms=NOW, limits=LIMITS, **options)

    def parsed() -> object:
        doc, kind = parse_body(body, "application/json")
        return validate(doc, device_id="dev-1", tags=TAGS, now_ms=NOW, limits=LIMITS, kind=kind)

    base = rate(floor)
    print(f"{'path':34} {'readings/s':>12} {'x floor':>8}")
    for name, step in [
        ("floor: Reading() only", floor),
        ("native, floats", check(native)),
        ("native, ints -> floats", check(ints)),
        ("native, with schema", check(native, schema=SCHEMA)),
        ("native, parse_body + validate", parsed),
        ("senml, 2 records per reading", check(senml, kind="senml")),
    ]:
        figure = base if step is floor else rate(step)
        print(f"{name:34} {figure:12,.0f} {figure / base:8.2f}")


if __name__ == "__main__":
    main()
