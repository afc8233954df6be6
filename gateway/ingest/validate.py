"""Turn one parsed ingestion document into validated readings plus a reason for every rejected one.

Pure (no I/O, no settings, no clock: the caller passes ``now_ms``) so the HTTP and MQTT transports share it
and map the result to their own replies. Rules, in the words the error messages use:

* Native JSON: one reading ``{"ts": ..., "values": {...}}`` or a batch ``{"readings": [...]}``. A reading
  has only ``ts``, ``values`` and optionally ``device_id``; any other key is an error, so a typo such as
  ``"value"`` never passes silently. The batch object has only ``readings`` and optionally ``device_id``.
  The device is always the authenticated one: a ``device_id`` naming another device rejects the reading
  (the whole document, at batch level); naming the same device is fine. A single reading has index 0.
* ``ts``: integer epoch milliseconds (a float only when whole), or an RFC 3339 string with ``Z`` or an
  offset (normalised to UTC; digits below the millisecond are dropped). Missing means ``now_ms``; ``null``
  is an error. It must lie within ``max_past_age_ms`` before and ``max_future_skew_ms`` after ``now_ms``.
* Metric names match ``METRIC_NAME`` (a letter, then up to 63 letters, digits, ``_ . -``), are not one of
  ``RESERVED_NAMES`` in any case (storage tags and columns; names starting with ``_``, InfluxDB's own, are
  excluded by the pattern) and not one of the device's own tag keys.
* Values: finite numbers, real JSON booleans, or strings of at most ``max_string_length`` characters
  without control characters (C0, DEL, C1: a newline in a value breaks CSV exports and log lines) or lone
  surrogates (they cannot be encoded for storage). Any other character, punctuation and non-ASCII
  included, is kept exactly. ``null``, arrays and objects are errors. Every number is stored as a float
  (21 becomes 21.0) because InfluxDB fixes a field's type at its first write: a device sending 21 once
  and 21.5 later would otherwise have every later point refused. Integers beyond 2**53 lose precision.
* Optional per-metric schema (``MetricRule``) of the device type: kind, inclusive range, unit, string
  length. Metrics missing from it are errors unless ``allow_unknown_metrics``; without a schema any
  valid metric is accepted.
* A reading needs 1 to ``max_metrics`` metrics. More than ``max_readings`` readings reject the whole
  document. Within a batch, a reading whose ``ts`` equals an earlier *accepted* one is a duplicate, even
  with other metrics: send them in one reading. (Storage would overwrite the point, so the device could
  not tell which value won.)
* SenML (RFC 8428): base fields resolve per section 4.6; the name is ``bn + n``. If it is this device's
  id followed by ``:``, ``/`` or ``.``, the rest is the metric (``urn:dev:ow:10e2073a01080063:temp``);
  otherwise, if a base name is in effect, the record names another device and is rejected; without a
  base name, ``n`` is the metric itself. A name that is just the device id carries no metric and is
  rejected. Times are seconds; a resolved time below 2**28 is relative to ``now_ms`` (section 4.5.3).
  Records with equal resolved times form one reading. Units are checked against the schema, not stored.
  Sums (``s``) and data values (``vd``), versions above 10 and labels ending in ``_`` are unsupported;
  other unknown labels are ignored as the RFC requires. A bad base field spoils every later record, so
  it rejects the whole pack, as do more than ``max_readings * max_metrics`` records. A rejection's index
  is the record's position in the array; a repeated name at one time is a duplicate of the first record.

Accepted readings may share the ``values`` dict of the input document (it is copied only when a value
changes form), so callers must not mutate the document afterwards.

Every message comes with a stable reason code (``REASONS``) for the "rejected readings by reason" metric.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, get_args

import orjson

from gateway.storage.base import Reading, Value

Kind = Literal["native", "senml"]
Reason = Literal[
    "shape",
    "empty",
    "too_many_readings",
    "unknown_field",
    "device_mismatch",
    "unsupported",
    "timestamp",
    "timestamp_future",
    "timestamp_past",
    "duplicate",
    "no_values",
    "too_many_metrics",
    "metric_name",
    "unknown_metric",
    "value_type",
    "not_finite",
    "range",
    "string_too_long",
    "control_character",
    "unit",
]
REASONS: Final[tuple[Reason, ...]] = get_args(Reason)
MEDIA_TYPES: Final[Mapping[str, Kind]] = {"application/json": "native", "application/senml+json": "senml"}
METRIC_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
RESERVED_NAMES: Final = frozenset({"device_id", "tenant", "time", "ts"})
SENML_VERSION: Final = 10

_Fault = tuple[Reason, str]
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_RFC3339: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)", re.IGNORECASE)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_INF: Final = float("inf")
_READING_KEYS: Final = frozenset({"ts", "values", "device_id"})
_BATCH_KEYS: Final = frozenset({"readings", "device_id"})
_SEPARATORS: Final = frozenset(":/.")
_SENML_BASE: Final = (
    ("bn", "string"),
    ("bt", "number"),
    ("bu", "string"),
    ("bv", "number"),
    ("bver", "number"),
)
_SENML_VALUES: Final = (("v", "number"), ("vs", "string"), ("vb", "boolean"))
_FOR_TYPE: Final = " for this device type"
_RULE_KINDS: Final = {"number": "number", "bool": "boolean", "string": "string"}
_JSON_TYPES: Final[Mapping[type, str]] = {
    type(None): "null",
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}
_NAME_CACHE_SIZE: Final = 4096
known_names: set[str] = set()  # memo of names that passed _name_fault (not tag collisions); cleared when full


class MalformedDocument(ValueError):
    """The body is not JSON (the HTTP transport answers 400)."""


class UnsupportedMediaType(ValueError):
    """The body is in a media type the gateway does not read (the HTTP transport answers 415)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one document; the caller builds them from settings."""

    max_readings: int = 1000
    max_metrics: int = 64
    max_string_length: int = 256
    max_future_skew_ms: int = 5 * 60_000
    max_past_age_ms: int = 7 * 86_400_000


@dataclass(frozen=True, slots=True)
class MetricRule:
    """What a device type declares about one metric; ``None`` leaves that aspect unchecked."""

    kind: Literal["number", "bool", "string"] = "number"
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    max_length: int | None = None


@dataclass(slots=True)
class Rejection:
    """Why the reading (SenML: the record) at ``index`` was refused; ``reasons[i]`` codes ``errors[i]``."""

    index: int
    errors: list[str]
    reasons: list[Reason]

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "errors": self.errors}


@dataclass(slots=True)
class ValidationResult:
    """Accepted readings, rejected ones, and faults of the whole document (then nothing is accepted)."""

    readings: list[Reading] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    document_errors: list[str] = field(default_factory=list)
    document_reasons: list[Reason] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return len(self.readings)

    def to_json(self) -> dict[str, Any]:
        """The ingestion reply body; ``errors`` only when the document as a whole was refused."""
        body: dict[str, Any] = {"accepted": self.accepted, "rejected": [r.to_json() for r in self.rejected]}
        if self.document_errors:
            body["errors"] = self.document_errors
        return body


def parse_body(body: bytes, content_type: str) -> tuple[object, Kind]:
    """Decode a request body by its media type; parameters such as ``charset`` are ignored (JSON is UTF-8)."""
    media = content_type.partition(";")[0].strip().lower()
    kind = MEDIA_TYPES.get(media)
    if kind is None:
        raise UnsupportedMediaType(
            f"{media or 'a body without a media type'} is not accepted; send {' or '.join(MEDIA_TYPES)}"
        )
    try:
        return orjson.loads(body), kind
    except orjson.JSONDecodeError as exc:
        raise MalformedDocument(f"the body is not valid JSON: {exc}") from exc


def validate(
    document: object,
    *,
    device_id: str,
    tags: Mapping[str, str],
    now_ms: int,
    limits: Limits,
    schema: Mapping[str, MetricRule] | None = None,
    allow_unknown_metrics: bool = True,
    kind: Kind = "native",
) -> ValidationResult:
    """Check a parsed document of the authenticated ``device_id``; accepted readings carry ``tags``."""
    check = _Check(device_id, tags, now_ms, limits, schema, allow_unknown_metrics)
    return check.senml(document) if kind == "senml" else check.native(document)


class _Check:
    """One call's context, so the per-reading code reads attributes instead of passing them around."""

    __slots__ = ("allow_unknown", "device_id", "earliest", "latest", "limits", "now_ms", "schema", "tags")

    def __init__(
        self,
        device_id: str,
        tags: Mapping[str, str],
        now_ms: int,
        limits: Limits,
        schema: Mapping[str, MetricRule] | None,
        allow_unknown: bool,
    ) -> None:
        self.device_id, self.tags, self.now_ms, self.limits = device_id, tags, now_ms, limits
        self.schema, self.allow_unknown = schema, allow_unknown
        self.earliest = now_ms - limits.max_past_age_ms
        self.latest = now_ms + limits.max_future_skew_ms

    def native(self, doc: object) -> ValidationResult:
        if type(doc) is not dict:
            return _refuse("shape", f"the document must be a JSON object, not {_type(doc)}")
        items: Any = [doc]
        if "readings" in doc:
            items = doc["readings"]
            if unknown := [k for k in doc if k not in _BATCH_KEYS]:
                return _refuse(
                    "unknown_field", f"unknown field {_list(unknown)}; a batch has readings and optionally device_id"
                )
            if "device_id" in doc and doc["device_id"] != self.device_id:
                return _refuse("device_mismatch", self._mismatch(doc["device_id"]))
            if type(items) is not list:
                return _refuse("shape", f"readings must be a JSON array, not {_type(items)}")
            if not items:
                return _refuse("empty", "readings is empty")
            if len(items) > self.limits.max_readings:
                return _refuse(
                    "too_many_readings",
                    f"{len(items)} readings exceed the limit of {self.limits.max_readings} per document",
                )
        result = ValidationResult()
        accepted, rejected = result.readings, result.rejected
        first_at: dict[int, int] = {}
        reading = self.reading
        for i, raw in enumerate(items):
            out = reading(raw)
            if isinstance(out, Reading):
                first = first_at.setdefault(out.ts_ms, i)
                if first == i:
                    accepted.append(out)
                    continue
                out = [("duplicate", f"ts: {out.ts_ms} duplicates reading {first}; send one reading per time")]
            rejected.append(_rejection(i, out))
        return result

    def reading(self, raw: object) -> Reading | list[_Fault]:
        """One native reading. It runs for every sample, so the common case is checked inline."""
        if type(raw) is not dict:
            return [("shape", f"a reading must be a JSON object, not {_type(raw)}")]
        faults: list[_Fault] = []
        if not _READING_KEYS.issuperset(raw):
            unknown = _list([k for k in raw if k not in _READING_KEYS])
            faults.append(
                ("unknown_field", f"unknown field {unknown}; a reading has ts, values and optionally device_id")
            )
        if "device_id" in raw and raw["device_id"] != self.device_id:
            faults.append(("device_mismatch", self._mismatch(raw["device_id"])))
        ts = raw.get("ts", self.now_ms)
        if type(ts) is not int or not self.earliest <= ts <= self.latest:
            ts = self.timestamp(ts, faults)
        values = raw.get("values")
        if type(values) is not dict or not 0 < len(values) <= self.limits.max_metrics:
            faults.append(_values_fault(values, self.limits.max_metrics))
            return faults
        out: dict[str, Value] | None = None  # a copy, made only if a value changes form
        good, tags, schema = known_names, self.tags, self.schema
        for name, value in values.items():
            if (name not in good or name in tags) and not self.name_ok("values.", name, faults):
                continue
            # x - x == 0.0 holds exactly for finite floats (inf - inf and nan - nan are nan)
            if schema is None and ((type(value) is float and value - value == 0.0) or type(value) is bool):
                continue
            checked = self.value("values.", name, value, None)
            if isinstance(checked, tuple):
                faults.append(checked)
            elif checked is not value:  # an int became a float
                if out is None:
                    out = dict(values)
                out[name] = checked
        return faults or Reading(self.device_id, ts, values if out is None else out, self.tags)

    def name_ok(self, path: str, name: object, faults: list[_Fault]) -> bool:
        problem = _name_fault(name)
        if problem is None and name in self.tags:
            problem = f"collides with this device's tag {name!r}"
        if problem is not None:
            faults.append(("metric_name", f"{path}{_show(name)}: {problem}"))
        return problem is None

    def value(self, path: str, name: str, value: object, unit: object) -> Value | _Fault:
        """The stored form of one value, or why it is refused."""
        rule = None if self.schema is None else self.schema.get(name)
        if rule is None and self.schema is not None and not self.allow_unknown:
            return "unknown_metric", f"{path}{name}: not a metric of this device type"
        if type(value) is int:
            try:
                value = float(value)
            except OverflowError:
                return "not_finite", f"{path}{name}: {_show(value)} is too large for a 64-bit float"
        if type(value) is float:
            if not -_INF < value < _INF:
                return "not_finite", f"{path}{name}: {_show(value)} is not a finite number"
        elif type(value) is str:
            limit = self.limits.max_string_length
            if rule is not None and rule.max_length is not None:
                limit = min(limit, rule.max_length)
            if len(value) > limit:
                return "string_too_long", f"{path}{name}: {len(value)} characters exceed the limit of {limit}"
            if bad := _CONTROL.search(value):
                return (
                    "control_character",
                    f"{path}{name}: control character U+{ord(bad[0]):04X} is not allowed",
                )
        elif type(value) is not bool:
            return (
                "value_type",
                f"{path}{name}: {_type(value)} is not a value; send a number, true/false or text",
            )
        if rule is None:
            return value
        if _type(value) != _RULE_KINDS[rule.kind]:
            return "value_type", f"{path}{name}: expected a {_RULE_KINDS[rule.kind]}, got a {_type(value)}"
        if type(value) is float:
            if rule.min is not None and value < rule.min:
                return "range", f"{path}{name}: {value!r} is below the minimum {_num(rule.min)}{_FOR_TYPE}"
            if rule.max is not None and value > rule.max:
                return "range", f"{path}{name}: {value!r} is above the maximum {_num(rule.max)}{_FOR_TYPE}"
        if unit is not None and rule.unit is not None and unit != rule.unit:
            return "unit", f"{path}{name}: unit {_show(unit)} is not {_show(rule.unit)}{_FOR_TYPE}"
        return value

    def timestamp(self, ts: object, faults: list[_Fault]) -> int:
        """Epoch ms of a native ``ts`` (fast path: an in-window int never gets here)."""
        ms: int | None = None
        if type(ts) is int:
            ms = ts
        elif type(ts) is float and ts.is_integer():
            ms = int(ts)
        elif type(ts) is str:
            ms = _rfc3339_ms(ts)
        if ms is None:
            faults.append(("timestamp", f"ts: {_show(ts)} is not epoch milliseconds (an integer) or an RFC 3339 time"))
            return self.now_ms
        return self.window(ms, f"ts: {_show(ts)}", faults)

    def window(self, ms: int, what: str, faults: list[_Fault]) -> int:
        if ms > self.latest:
            ahead = (ms - self.now_ms) // 1000
            limit = self.limits.max_future_skew_ms // 1000
            faults.append(("timestamp_future", f"{what} is {ahead} s in the future; at most {limit} s is allowed"))
        elif ms < self.earliest:
            age = (self.now_ms - ms) // 1000
            limit = self.limits.max_past_age_ms // 1000
            faults.append(("timestamp_past", f"{what} is {age} s in the past; at most {limit} s is allowed"))
        return ms

    def _mismatch(self, claimed: object) -> str:
        return f"device_id: {_show(claimed)} is not the authenticated device {_show(self.device_id)}"

    def senml(self, doc: object) -> ValidationResult:
        if type(doc) is not list:
            return _refuse("shape", f"a SenML pack must be a JSON array of records, not {_type(doc)}")
        if not doc:
            return _refuse("empty", "the SenML pack has no records")
        limit = self.limits.max_readings * self.limits.max_metrics
        if len(doc) > limit:
            return _refuse("too_many_readings", f"{len(doc)} records exceed the limit of {limit} per document")
        base: dict[str, Any] = {"bn": "", "bt": 0, "bu": None, "bv": 0, "bver": SENML_VERSION}
        groups: dict[int, dict[str, tuple[int, Value]]] = {}
        result = ValidationResult()
        for i, rec in enumerate(doc):
            if type(rec) is not dict:
                result.rejected.append(Rejection(i, [f"a record must be a JSON object, not {_type(rec)}"], ["shape"]))
                continue
            for label, kind in _SENML_BASE:
                if label in rec:
                    if _type(rec[label]) != kind:
                        return _refuse("shape", f"record {i}: {label} must be a {kind}, not {_type(rec[label])}")
                    base[label] = rec[label]
            if base["bver"] > SENML_VERSION:
                return _refuse("unsupported", f"record {i}: SenML version {base['bver']} is newer than 10")
            faults: list[_Fault] = []
            self.record(rec, base, faults, groups, i)
            if faults:
                result.rejected.append(_rejection(i, faults))
        if len(groups) > self.limits.max_readings:
            return _refuse(
                "too_many_readings",
                f"{len(groups)} readings exceed the limit of {self.limits.max_readings} per document",
            )
        result.readings = [
            Reading(self.device_id, ts, {m: v for m, (_, v) in group.items()}, self.tags)
            for ts, group in groups.items()
        ]
        return result

    def record(
        self,
        rec: dict[str, Any],
        base: dict[str, Any],
        faults: list[_Fault],
        groups: dict[int, dict[str, tuple[int, Value]]],
        index: int,
    ) -> None:
        """Resolve one SenML record against ``base`` and add it to its time's group, or add faults."""
        for label in rec:
            if label in ("s", "vd") or label.endswith("_"):
                faults.append(("unsupported", f"{label}: this SenML field is not supported"))
        name, unit = rec.get("n", ""), rec.get("u", base["bu"])
        for label, got in (("n", name), ("u", unit)):
            if got is not None and type(got) is not str:
                faults.append(("shape", f"{label} must be a string, not {_type(got)}"))
        metric = self.senml_metric(base["bn"], name, faults) if type(name) is str else None
        ts = self.senml_time(base["bt"], rec.get("t", 0), faults)
        present = [(label, kind) for label, kind in _SENML_VALUES if label in rec]
        value: Value | None = None
        if not present:
            if "s" not in rec and "vd" not in rec:
                faults.append(("no_values", "a record needs one of v, vs or vb"))
        elif len(present) > 1:
            faults.append(("shape", f"a record has one value, not {_list([label for label, _ in present])}"))
        elif _type(raw := rec[present[0][0]]) != present[0][1]:
            faults.append(("value_type", f"{present[0][0]} must be a {present[0][1]}, not {_type(raw)}"))
        elif metric is not None:
            checked = self.value("", metric, raw + base["bv"] if present[0][0] == "v" else raw, unit)
            if isinstance(checked, tuple):
                faults.append(checked)
            else:
                value = checked
        if faults or metric is None or value is None:
            return
        group = groups.setdefault(ts, {})
        if metric in group:
            faults.append(("duplicate", f"{metric} at this time duplicates record {group[metric][0]}"))
        elif len(group) >= self.limits.max_metrics:
            faults.append(("too_many_metrics", f"more than {self.limits.max_metrics} metrics at this time"))
        else:
            group[metric] = (index, value)

    def senml_metric(self, bn: str, n: str, faults: list[_Fault]) -> str | None:
        name, device = bn + n, self.device_id
        if name.startswith(device) and name[len(device) : len(device) + 1] in _SEPARATORS:
            metric = name[len(device) + 1 :]
        elif name == device:
            metric = ""
        elif bn:
            faults.append(
                (
                    "device_mismatch",
                    f"n: {_show(name)} does not start with the authenticated device {_show(device)}"
                    " and one of ':', '/' or '.'",
                )
            )
            return None
        else:
            metric = name
        if not metric:
            faults.append(("metric_name", f"n: {_show(name)} names the device but no metric"))
            return None
        return metric if self.name_ok("", metric, faults) else None

    def senml_time(self, bt: float, t: object, faults: list[_Fault]) -> int:
        if _type(t) != "number":
            faults.append(("timestamp", f"t must be a number, not {_type(t)}"))
            return self.now_ms
        seconds = bt + t  # type: ignore[operator]  # checked to be a number
        if not -1e13 < seconds < 1e13:
            faults.append(("timestamp", f"t: {_show(seconds)} s is out of range"))
            return self.now_ms
        ms = round(seconds * 1000) + (self.now_ms if seconds < 2**28 else 0)
        return self.window(ms, f"t: {_show(seconds)} s", faults)


def _name_fault(name: object) -> str | None:
    """Why a metric name is unusable, or None (then memoised, so each name is checked once)."""
    if type(name) is not str or not METRIC_NAME.fullmatch(name):
        return "not a metric name; use a letter, then up to 63 letters, digits, '_', '.' or '-'"
    if name.lower() in RESERVED_NAMES:
        return "is reserved (a storage tag or column)"
    if len(known_names) >= _NAME_CACHE_SIZE:
        known_names.clear()
    known_names.add(name)
    return None


def _rfc3339_ms(text: str) -> int | None:
    if not _RFC3339.fullmatch(text):
        return None
    try:
        return (datetime.fromisoformat(text.upper()) - _EPOCH) // _MS
    except ValueError:
        return None


def _values_fault(values: object, limit: int) -> _Fault:
    if values is None:
        return "no_values", "values: missing or null; a reading needs at least one metric"
    if type(values) is not dict:
        return "shape", f"values must be a JSON object of metric: value, not {_type(values)}"
    if values:
        return "too_many_metrics", f"values: {len(values)} metrics exceed the limit of {limit} per reading"
    return "no_values", "values: empty; a reading needs at least one metric"


def _refuse(reason: Reason, message: str) -> ValidationResult:
    return ValidationResult(document_errors=[message], document_reasons=[reason])


def _rejection(index: int, faults: list[_Fault]) -> Rejection:
    return Rejection(index, [message for _, message in faults], [reason for reason, _ in faults])


def _type(value: object) -> str:
    """The JSON name of a value's type, as devices know it."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _show(value: object) -> str:
    """A value as the device spelled it (JSON), cut short so a huge value cannot bloat the reply."""
    try:
        text = repr(value) if type(value) is float else orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _list(keys: list[Any]) -> str:
    return ", ".join(_show(k) for k in keys)


def _num(bound: float) -> str:
    text = repr(bound)
    return text[:-2] if text.endswith(".0") else text
