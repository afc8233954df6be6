"""What every transport does with a decoded document: validate it for the device, spool the valid part, count.

HTTP and MQTT differ only in how they authenticate and reply; this is the one place they meet.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from cachetools import LRUCache

from gateway.config import Settings
from gateway.device_types.schemas import MetricSchema
from gateway.devices.auth import DevicePrincipal
from gateway.ingest import fast, metrics
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.validate import Kind, Limits, MetricRule, ValidationResult, validate

_rules: LRUCache[int, tuple[MetricSchema, dict[str, MetricRule]]] = LRUCache(1024)


def limits_from(settings: Settings) -> Limits:
    return Limits(
        max_readings=settings.max_readings_per_request,
        max_metrics=settings.max_metrics_per_reading,
        max_string_length=settings.max_string_length,
        max_future_skew_ms=settings.max_future_skew_s * 1000,
        max_past_age_ms=settings.max_past_age_s * 1000,
    )


def rules_of(schema: MetricSchema) -> Mapping[str, MetricRule]:
    """The validator's view of a device type (cached: the authenticator hands out the same schema object)."""
    cached = _rules.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    rules = {
        name: MetricRule(
            kind="number" if rule.kind == "integer" else rule.kind,
            min=getattr(rule, "min", None),
            max=getattr(rule, "max", None),
            unit=rule.unit,
            max_length=getattr(rule, "max_length", None),
        )
        for name, rule in schema.metrics.items()
    }
    _rules[id(schema)] = (schema, rules)
    return rules


def _context(
    device: DevicePrincipal, limits: Limits
) -> tuple[str, Mapping[str, str], int, Limits, Mapping[str, MetricRule] | None, bool]:
    """(device_id, tags, now_ms, limits, schema rules, allow_unknown_metrics): what validation needs of a device."""
    schema = device.schema
    rules = rules_of(schema) if schema is not None else None
    allow_unknown = schema.allow_unknown_metrics if schema is not None else True
    return device.device_id, device.tags, time.time_ns() // 1_000_000, limits, rules, allow_unknown


def check(device: DevicePrincipal, document: object, *, kind: Kind, limits: Limits) -> ValidationResult:
    """Validate a document for the device; nothing is spooled or counted yet."""
    device_id, tags, now_ms, limits, schema, allow_unknown = _context(device, limits)
    return validate(
        document,
        device_id=device_id,
        tags=tags,
        now_ms=now_ms,
        limits=limits,
        schema=schema,
        allow_unknown_metrics=allow_unknown,
        kind=kind,
    )


def check_batch(device: DevicePrincipal, batch: fast.Batch, *, limits: Limits) -> ValidationResult | None:
    """The fast path's verdict on a typed batch: all accepted, or None (then ``check`` the document)."""
    return fast.readings(batch, *_context(device, limits))


async def spool(pipeline: Pipeline, results: Sequence[ValidationResult], transport: str) -> None:
    """Durably spool the valid readings of all results at once, then count them; raises SpoolFull (push back)
    before accepting any, and then counts nothing, since the caller will offer the same documents again."""
    try:
        await pipeline.submit(*(result.readings for result in results))
    except Exception:
        metrics.BACKPRESSURE.labels(transport).inc()
        raise
    if accepted := sum(len(result.readings) for result in results):
        metrics.READINGS_ACCEPTED.labels(transport).inc(accepted)
    for result in results:
        for reason in result.document_reasons:
            metrics.READINGS_REJECTED.labels(transport, reason).inc()
        for rejection in result.rejected:
            metrics.READINGS_REJECTED.labels(transport, rejection.reasons[0] if rejection.reasons else "invalid").inc()


async def accept(
    pipeline: Pipeline,
    device: DevicePrincipal,
    document: object,
    *,
    kind: Kind,
    limits: Limits,
    transport: str,
) -> ValidationResult:
    """Validate and durably spool the valid readings; raises SpoolFull (push back) before accepting any."""
    result = check(device, document, kind=kind, limits=limits)
    await spool(pipeline, [result], transport)
    return result
