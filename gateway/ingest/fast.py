"""The common case decoded in one typed pass: a batch of numeric or boolean readings that all pass.

msgspec parses the JSON and checks its shape and value types in C, where ``orjson.loads`` followed by the validator
walks every key and value in Python again; that is most of the work of a 10-reading message. What is left here is
what depends on the device and the clock: the time window, the metric names, the schema's rules, duplicates.

The fast path only ever accepts: any document it does not fully accept (strings, a single reading, an unknown key,
a name seen for the first time, anything out of bounds) yields None, and the caller runs the validator, which gives
the reasons. So both paths agree on every document, which ``tests/ingest/test_fast.py`` checks on thousands of
random documents and on the JSON corner cases where parsers differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from gateway.ingest.validate import Limits, MetricRule, ValidationResult, known_names
from gateway.storage.base import Reading

__all__ = ["Batch", "decode", "readings"]


class _Reading(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    values: dict[str, float | bool]  # JSON integers become floats, as the validator stores every number
    ts: int | msgspec.UnsetType = msgspec.UNSET
    device_id: str | msgspec.UnsetType = msgspec.UNSET


class Batch(msgspec.Struct, forbid_unknown_fields=True):
    """``{"readings": [...]}``, plus the MQTT message's ``token`` and correlation id ``cid``."""

    readings: list[_Reading]
    device_id: str | msgspec.UnsetType = msgspec.UNSET
    token: str | msgspec.UnsetType = msgspec.UNSET
    cid: Any = None


_decoder = msgspec.json.Decoder(Batch)


def decode(payload: bytes) -> Batch | None:
    """The batch if the payload has the common shape and types, else None (then decode it the general way)."""
    try:
        return _decoder.decode(payload)
    except msgspec.DecodeError:
        return None


def readings(
    batch: Batch,
    device_id: str,
    tags: Mapping[str, str],
    now_ms: int,
    limits: Limits,
    schema: Mapping[str, MetricRule] | None,
    allow_unknown_metrics: bool,
) -> ValidationResult | None:
    """Every reading of the batch accepted, or None when any of them needs the validator's verdict."""
    items, unset = batch.readings, msgspec.UNSET
    if not 0 < len(items) <= limits.max_readings or (batch.device_id is not unset and batch.device_id != device_id):
        return None
    earliest, latest, max_metrics = (
        now_ms - limits.max_past_age_ms,
        now_ms + limits.max_future_skew_ms,
        limits.max_metrics,
    )
    accepted: list[Reading] = []
    for item in items:
        ts, values = item.ts, item.values
        if ts is unset:
            ts = now_ms
        elif not earliest <= ts <= latest:
            return None
        if not 0 < len(values) <= max_metrics or (item.device_id is not unset and item.device_id != device_id):
            return None
        accepted.append(Reading(device_id, ts, values, tags))
    names = set().union(*[item.values for item in items])  # the names of all readings, checked at once
    if (
        not known_names.issuperset(names)
        or not tags.keys().isdisjoint(names)
        or (schema is not None and not all(_obeys(item.values, schema, allow_unknown_metrics) for item in items))
        or len({reading.ts_ms for reading in accepted}) != len(accepted)  # a duplicate time: the validator says which
    ):
        return None
    return ValidationResult(readings=accepted)


def _obeys(values: dict[str, float | bool], schema: Mapping[str, MetricRule], allow_unknown: bool) -> bool:
    for name, value in values.items():
        rule = schema.get(name)
        if rule is None:
            if not allow_unknown:
                return False
        elif value.__class__ is bool:
            if rule.kind != "bool":
                return False
        elif (
            rule.kind != "number"
            or (rule.min is not None and value < rule.min)
            or (rule.max is not None and value > rule.max)
        ):
            return False
    return True
