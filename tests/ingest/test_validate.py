"""Every validation rule, accepted and rejected with its reason; RFC 8428 examples; parse_body edge cases."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.ingest import validate as validate_module
from gateway.ingest.validate import (
    REASONS,
    Limits,
    MalformedDocument,
    MetricRule,
    UnsupportedMediaType,
    ValidationResult,
    parse_body,
    validate,
)
from gateway.storage.base import Reading

NOW = 1_764_320_000_000  # 2025-11-28T08:53:20Z
DEV = "esp32-kitchen"
TAGS = {"site": "lab", "type": "climate"}
SCHEMA = {
    "temperature": MetricRule("number", min=-40, max=125, unit="Cel"),
    "humidity": MetricRule("number", min=0, max=100, unit="%RH"),
    "door": MetricRule("bool"),
    "status": MetricRule("string", max_length=8),
}


def check(doc: Any, **kw: Any) -> ValidationResult:
    args: dict[str, Any] = {"device_id": DEV, "tags": TAGS, "now_ms": NOW, "limits": Limits()} | kw
    result = validate(doc, **args)
    for rejection in result.rejected:
        assert len(rejection.errors) == len(rejection.reasons) > 0
        assert set(rejection.reasons) <= set(REASONS)
    assert len(result.document_errors) == len(result.document_reasons)
    assert not (result.document_errors and (result.readings or result.rejected))
    return result


def one(values: Any, **kw: Any) -> ValidationResult:
    return check({"ts": NOW, "values": values}, **kw)


def reasons(result: ValidationResult) -> list[str]:
    """Reason codes of a single-reading document: of its rejection, or of the document."""
    if result.document_reasons:
        return list(result.document_reasons)
    assert [r.index for r in result.rejected] == [0]
    return list(result.rejected[0].reasons)


def errors(result: ValidationResult) -> list[str]:
    return list(result.document_errors) if result.document_errors else result.rejected[0].errors


def senml(doc: Any, device_id: str = DEV, **kw: Any) -> ValidationResult:
    return check(doc, kind="senml", device_id=device_id, **kw)


# --- parse_body ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("application/json", "native"),
        ("Application/JSON; charset=utf-8", "native"),
        ("application/senml+json", "senml"),
        ("application/senml+json ; charset=UTF-8", "senml"),
    ],
)
def test_parse_body_accepts_json_media_types(content_type: str, kind: str) -> None:
    assert parse_body(b'{"values": {"a": 1}}', content_type) == ({"values": {"a": 1}}, kind)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/senml+cbor", ""])
def test_parse_body_refuses_other_media_types(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType, match="application/json or application/senml\\+json"):
        parse_body(b"{}", content_type)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b'{"values": {"t": 1e309}}',  # Python's json gives inf; orjson refuses
        b'{"values": {"t": NaN}}',
        b'{"values": {"t": Infinity}}',
        b'{"values": {"t": "\\ud800"}}',  # lone surrogate
        b'{"values": {"t": "\xff"}}',  # not UTF-8
        b"{'values': {}}",
    ],
)
def test_parse_body_refuses_malformed_json(body: bytes) -> None:
    with pytest.raises(MalformedDocument, match="not valid JSON") as caught:
        parse_body(body, "application/json")
    assert isinstance(caught.value, ValueError)


def test_integers_beyond_64_bits_parse_to_floats_and_are_accepted() -> None:
    doc, kind = parse_body(b'{"values": {"count": 18446744073709551616, "small": 12}}', "application/json")
    result = check(doc, kind=kind)
    assert result.readings[0].values == {"count": 1.8446744073709552e19, "small": 12.0}


def test_non_ascii_and_punctuation_round_trip_through_parse_body() -> None:
    text = 'a, b = "c" \\ d; é ü 温度 🌡️ \u2028'
    doc, kind = parse_body(
        ('{"values": {"note": "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"}}').encode(),
        "application/json",
    )
    assert check(doc, kind=kind).readings[0].values["note"] == text


# --- native documents ------------------------------------------------------------------------------------


def test_single_reading_is_accepted_with_tags_and_float_values() -> None:
    result = one({"temperature": 21.5, "humidity": 40})
    assert result.readings == [Reading(DEV, NOW, {"temperature": 21.5, "humidity": 40.0}, TAGS)]
    assert type(result.readings[0].values["humidity"]) is float
    assert result.readings[0].tags is TAGS
    assert result.to_json() == {"accepted": 1, "rejected": []}


def test_int_to_float_does_not_mutate_the_input() -> None:
    values = {"humidity": 40}
    check({"values": values})
    assert type(values["humidity"]) is int


def test_batch_is_accepted_in_order() -> None:
    doc = {"readings": [{"ts": NOW - 2000, "values": {"a": 1.0}}, {"ts": NOW - 1000, "values": {"a": 2.0}}]}
    result = check(doc)
    assert [(r.ts_ms, r.values) for r in result.readings] == [(NOW - 2000, {"a": 1.0}), (NOW - 1000, {"a": 2.0})]
    assert result.accepted == 2


def test_missing_ts_means_arrival_time() -> None:
    assert check({"values": {"a": 1.0}}).readings[0].ts_ms == NOW


@pytest.mark.parametrize(
    ("ts", "ms"),
    [
        (NOW - 1, NOW - 1),
        (float(NOW - 1), NOW - 1),
        ("2025-11-28T08:53:20Z", NOW),
        ("2025-11-28T08:53:20.123Z", NOW + 123),
        ("2025-11-28T08:53:20.123456789Z", NOW + 123),  # below the millisecond: dropped
        ("2025-11-28T10:53:20+02:00", NOW),
        ("2025-11-28T03:23:20.5-05:30", NOW + 500),
        ("2025-11-28t08:53:20z", NOW),
        ("2025-11-28T08:53:20-00:00", NOW),
    ],
)
def test_timestamp_forms(ts: object, ms: int) -> None:
    assert check({"ts": ts, "values": {"a": 1.0}}).readings[0].ts_ms == ms


@pytest.mark.parametrize(
    "ts",
    [
        NOW + 0.5,
        True,
        None,
        [NOW],
        "2025-11-28",
        "2025-11-28T08:53:20",  # no offset
        "2025-11-28 08:53:20Z",
        "2025-11-28T23:59:60Z",  # leap second
        "2025-13-28T08:53:20Z",
        "yesterday",
        str(NOW),
    ],
)
def test_invalid_timestamps_are_rejected(ts: object) -> None:
    result = check({"ts": ts, "values": {"a": 1.0}})
    assert reasons(result) == ["timestamp"]
    assert errors(result)[0].startswith("ts: ")


def test_timestamp_skew_window_is_inclusive() -> None:
    limits = Limits(max_future_skew_ms=1000, max_past_age_ms=5000)
    ok = {"readings": [{"ts": NOW + 1000, "values": {"a": 1.0}}, {"ts": NOW - 5000, "values": {"a": 1.0}}]}
    assert check(ok, limits=limits).accepted == 2
    late = check({"ts": NOW + 301_000, "values": {"a": 1.0}})
    assert reasons(late) == ["timestamp_future"]
    assert errors(late) == [f"ts: {NOW + 301_000} is 301 s in the future; at most 300 s is allowed"]
    old = check({"ts": "2025-11-20T08:53:19Z", "values": {"a": 1.0}})
    assert reasons(old) == ["timestamp_past"]
    assert "at most 604800 s" in errors(old)[0]


def test_unknown_reading_keys_are_errors() -> None:
    result = check({"ts": NOW, "value": 21.5})
    assert reasons(result) == ["unknown_field", "no_values"]
    assert errors(result)[0].startswith('unknown field "value"')


def test_device_id_in_the_body_must_be_the_authenticated_device() -> None:
    assert check({"device_id": DEV, "values": {"a": 1.0}}).accepted == 1
    result = check({"device_id": "esp32-garage", "values": {"a": 1.0}})
    assert reasons(result) == ["device_mismatch"]
    assert errors(result) == ['device_id: "esp32-garage" is not the authenticated device "esp32-kitchen"']
    batch = check({"device_id": "esp32-garage", "readings": [{"values": {"a": 1.0}}]})
    assert batch.document_reasons == ["device_mismatch"]
    assert check({"device_id": DEV, "readings": [{"values": {"a": 1.0}}]}).accepted == 1


@pytest.mark.parametrize(
    ("values", "reason"),
    [({}, "no_values"), (None, "no_values"), ([1.0], "shape"), ("21.5", "shape"), ({"a": {}}, "value_type")],
)
def test_values_must_be_a_non_empty_object_of_scalars(values: object, reason: str) -> None:
    assert reasons(one(values)) == [reason]


def test_metric_count_limit() -> None:
    limits = Limits(max_metrics=3)
    assert one({"a": 1.0, "b": 2.0, "c": 3.0}, limits=limits).accepted == 1
    result = one({"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}, limits=limits)
    assert reasons(result) == ["too_many_metrics"]
    assert errors(result) == ["values: 4 metrics exceed the limit of 3 per reading"]


@pytest.mark.parametrize("name", ["t", "temperature", "Temp_1", "a.b-c", "x" * 64, "battery.voltage", "Time2"])
def test_valid_metric_names(name: str) -> None:
    assert one({name: 1.0}).accepted == 1


@pytest.mark.parametrize(
    "name",
    ["1abc", "_x", "-x", "temp erature", "", "x" * 65, "température", "a/b", "a:b", "a,b", "a=b", "a\nb"],
)
def test_invalid_metric_names(name: str) -> None:
    result = one({name: 1.0})
    assert reasons(result) == ["metric_name"]
    assert "not a metric name" in errors(result)[0]


@pytest.mark.parametrize("name", ["time", "ts", "device_id", "tenant", "TIME", "Device_ID"])
def test_reserved_metric_names(name: str) -> None:
    result = one({name: 1.0})
    assert reasons(result) == ["metric_name"]
    assert "reserved" in errors(result)[0]


def test_metric_names_may_not_collide_with_device_tags() -> None:
    result = one({"site": 1.0})
    assert reasons(result) == ["metric_name"]
    assert errors(result) == ["values.\"site\": collides with this device's tag 'site'"]
    assert one({"site": 1.0}, tags={}).accepted == 1


def test_name_cache_stays_bounded() -> None:
    names = {f"m{i}": 1.0 for i in range(5000)}
    assert one(names, limits=Limits(max_metrics=5000)).accepted == 1
    assert len(validate_module.known_names) <= 4096


def test_booleans_stay_booleans_and_are_not_numbers() -> None:
    values = one({"door": True, "on": False, "n": 1}).readings[0].values
    assert values["door"] is True and values["on"] is False and type(values["n"]) is float
    assert reasons(one({"temperature": True}, schema=SCHEMA)) == ["value_type"]
    assert errors(one({"temperature": True}, schema=SCHEMA)) == ["values.temperature: expected a number, got a boolean"]
    assert reasons(one({"door": 1}, schema=SCHEMA)) == ["value_type"]
    assert reasons(one({"door": "true"}, schema=SCHEMA)) == ["value_type"]
    assert one({"door": False}, schema=SCHEMA).accepted == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "value_type"),
        ([1, 2], "value_type"),
        ({"v": 1}, "value_type"),
        (float("nan"), "not_finite"),
        (float("inf"), "not_finite"),
        (float("-inf"), "not_finite"),
        (10**400, "not_finite"),
    ],
)
def test_non_values_are_rejected(value: object, reason: str) -> None:
    assert reasons(one({"a": value})) == [reason]


def test_null_message_names_the_metric() -> None:
    assert errors(one({"a": None})) == ["values.a: null is not a value; send a number, true/false or text"]


@pytest.mark.parametrize(
    "text", ["", "ok", "a, b", "k=v", 'say "hi"', "back\\slash", "tab-free text", "Grüße", "温度", "🌡️ 21 °C"]
)
def test_strings_round_trip_exactly(text: str) -> None:
    assert one({"note": text}).readings[0].values["note"] == text


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\ud800"])
def test_control_characters_in_strings_are_rejected(char: str) -> None:
    result = one({"note": f"a{char}b"})
    assert reasons(result) == ["control_character"]
    assert errors(result) == [f"values.note: control character U+{ord(char):04X} is not allowed"]


def test_string_length_limits() -> None:
    limits = Limits(max_string_length=5)
    assert one({"note": "é" * 5}, limits=limits).accepted == 1
    assert reasons(one({"note": "x" * 6}, limits=limits)) == ["string_too_long"]
    assert errors(one({"note": "x" * 6}, limits=limits)) == ["values.note: 6 characters exceed the limit of 5"]
    assert one({"status": "x" * 8}, schema=SCHEMA).accepted == 1
    assert reasons(one({"status": "x" * 9}, schema=SCHEMA)) == ["string_too_long"]
    assert reasons(one({"status": "x" * 9}, schema=SCHEMA, limits=limits)) == ["string_too_long"]


def test_schema_ranges_are_inclusive_and_named_in_errors() -> None:
    assert one({"temperature": 125, "humidity": 0}, schema=SCHEMA).accepted == 1
    assert one({"temperature": -40.0}, schema=SCHEMA).accepted == 1
    high = one({"temperature": 130}, schema=SCHEMA)
    assert reasons(high) == ["range"]
    assert errors(high) == ["values.temperature: 130.0 is above the maximum 125 for this device type"]
    low = one({"temperature": -40.5, "humidity": 101}, schema=SCHEMA)
    assert low.rejected[0].errors == [
        "values.temperature: -40.5 is below the minimum -40 for this device type",
        "values.humidity: 101.0 is above the maximum 100 for this device type",
    ]
    assert low.rejected[0].reasons == ["range", "range"]


def test_schema_kind_string() -> None:
    assert one({"status": "ok"}, schema=SCHEMA).accepted == 1
    assert errors(one({"status": 1}, schema=SCHEMA)) == ["values.status: expected a string, got a number"]


def test_unknown_metrics_with_a_schema() -> None:
    assert one({"pressure": 1013.0}, schema=SCHEMA).accepted == 1
    result = one({"pressure": 1013.0}, schema=SCHEMA, allow_unknown_metrics=False)
    assert reasons(result) == ["unknown_metric"]
    assert errors(result) == ["values.pressure: not a metric of this device type"]
    assert one({"temperature": 20.0}, schema=SCHEMA, allow_unknown_metrics=False).accepted == 1
    # without a schema there is nothing to be unknown to
    assert one({"pressure": 1013.0}, allow_unknown_metrics=False).accepted == 1


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ([{"values": {"a": 1.0}}], "shape"),
        ("text", "shape"),
        (None, "shape"),
        ({"readings": {"values": {"a": 1.0}}}, "shape"),
        ({"readings": []}, "empty"),
        ({"readings": [{"values": {"a": 1.0}}], "token": "x"}, "unknown_field"),
    ],
)
def test_document_shape_faults(doc: object, reason: str) -> None:
    result = check(doc)
    assert result.document_reasons == [reason]
    assert result.to_json() == {"accepted": 0, "rejected": [], "errors": result.document_errors}


def test_too_many_readings_reject_the_whole_document() -> None:
    limits = Limits(max_readings=3)
    batch = [{"ts": NOW - i, "values": {"a": 1.0}} for i in range(4)]
    assert check({"readings": batch[:3]}, limits=limits).accepted == 3
    result = check({"readings": batch}, limits=limits)
    assert result.document_reasons == ["too_many_readings"]
    assert result.document_errors == ["4 readings exceed the limit of 3 per document"]


def test_duplicate_timestamps_in_a_batch() -> None:
    doc = {
        "readings": [
            {"ts": NOW - 1, "values": {"a": 1.0}},
            {"ts": NOW - 1, "values": {"b": 2.0}},  # other metrics: still a duplicate
            {"ts": NOW - 2, "values": {"a": 3.0}},
            {"ts": NOW - 1, "values": {"a": 4.0}},
        ]
    }
    result = check(doc)
    assert [r.values for r in result.readings] == [{"a": 1.0}, {"a": 3.0}]
    assert [(r.index, r.reasons) for r in result.rejected] == [(1, ["duplicate"]), (3, ["duplicate"])]
    assert result.rejected[0].errors == [f"ts: {NOW - 1} duplicates reading 0; send one reading per time"]


def test_a_rejected_reading_does_not_make_a_later_one_a_duplicate() -> None:
    doc = {"readings": [{"ts": NOW - 1, "values": {"a": None}}, {"ts": NOW - 1, "values": {"a": 1.0}}]}
    result = check(doc)
    assert result.accepted == 1 and [r.index for r in result.rejected] == [0]


def test_mixed_batch_keeps_exactly_the_valid_part() -> None:
    doc = {
        "readings": [
            {"ts": NOW - 5000, "values": {"temperature": 21.5, "humidity": 40}},
            {"ts": NOW - 4000, "values": {"temperature": 130}},
            "not a reading",
            {"ts": NOW - 3000, "value": 1},
            {"ts": NOW - 2000, "values": {"temperature": 22.0, "door": True}},
            {"ts": NOW + 3_600_000, "values": {"temperature": 22.0}},
            {"ts": NOW - 1000, "values": {"temperature": 22.5, "ts": 1.0}},
            {"values": {"humidity": 41.5}},
        ]
    }
    result = check(doc, schema=SCHEMA)
    assert [(r.ts_ms, dict(r.values)) for r in result.readings] == [
        (NOW - 5000, {"temperature": 21.5, "humidity": 40.0}),
        (NOW - 2000, {"temperature": 22.0, "door": True}),
        (NOW, {"humidity": 41.5}),
    ]
    assert [(r.index, r.reasons) for r in result.rejected] == [
        (1, ["range"]),
        (2, ["shape"]),
        (3, ["unknown_field", "no_values"]),
        (5, ["timestamp_future"]),
        (6, ["metric_name"]),
    ]
    reply = result.to_json()
    assert reply["accepted"] == 3
    assert reply["rejected"][0] == {
        "index": 1,
        "errors": ["values.temperature: 130.0 is above the maximum 125 for this device type"],
    }


def test_long_offending_values_are_cut_short_in_messages() -> None:
    message = errors(check({"device_id": "x" * 1000, "values": {"a": 1.0}}))[0]
    assert len(message) < 150 and message.endswith('"esp32-kitchen"')


# --- SenML (RFC 8428) ------------------------------------------------------------------------------------

URN = "urn:dev:ow:10e2073a01080063"


def test_rfc8428_single_datapoint_names_no_metric() -> None:
    """5.1.1 names only the device; the gateway stores metrics, so it asks for one in the name."""
    result = senml([{"n": URN, "u": "Cel", "v": 23.1}], device_id=URN)
    assert reasons(result) == ["metric_name"]
    assert errors(result) == [f'n: "{URN}" names the device but no metric']
    named = senml([{"n": URN + ":temperature", "u": "Cel", "v": 23.1}], device_id=URN, schema=SCHEMA)
    assert named.readings == [Reading(URN, NOW, {"temperature": 23.1}, TAGS)]


def test_rfc8428_multiple_datapoints_now() -> None:
    """5.1.2, first example: voltage and current at an unspecified time, i.e. now."""
    pack = [{"bn": URN + ":", "n": "voltage", "u": "V", "v": 120.1}, {"n": "current", "u": "A", "v": 1.2}]
    result = senml(pack, device_id=URN)
    assert result.readings == [Reading(URN, NOW, {"voltage": 120.1, "current": 1.2}, TAGS)]


def test_rfc8428_multiple_datapoints_with_base_time_and_relative_offsets() -> None:
    """5.1.2, second example (verbatim, including its device id): current each second for 5 seconds."""
    dev = "urn:dev:ow:10e2073a0108006"
    pack = [
        {"bn": dev + ":", "bt": 1.276020076001e09, "bu": "A", "bver": 5, "n": "voltage", "u": "V", "v": 120.1},
        {"n": "current", "t": -5, "v": 1.2},
        {"n": "current", "t": -4, "v": 1.3},
        {"n": "current", "t": -3, "v": 1.4},
        {"n": "current", "t": -2, "v": 1.5},
        {"n": "current", "t": -1, "v": 1.6},
        {"n": "current", "v": 1.7},
    ]
    then = 1_276_020_076_001
    units = {"voltage": MetricRule(unit="V"), "current": MetricRule(unit="A")}
    result = senml(pack, device_id=dev, now_ms=then + 60_000, schema=units, allow_unknown_metrics=False)
    assert not result.rejected
    assert [(r.ts_ms, dict(r.values)) for r in result.readings] == [
        (then, {"voltage": 120.1, "current": 1.7}),
        (then - 5000, {"current": 1.2}),
        (then - 4000, {"current": 1.3}),
        (then - 3000, {"current": 1.4}),
        (then - 2000, {"current": 1.5}),
        (then - 1000, {"current": 1.6}),
    ]
    wrong = senml(pack, device_id=dev, now_ms=then + 60_000, schema={"current": MetricRule(unit="mA")})
    assert [r.index for r in wrong.rejected] == [1, 2, 3, 4, 5, 6]
    assert wrong.rejected[0].errors == ['current: unit "A" is not "mA" for this device type']
    assert wrong.rejected[0].reasons == ["unit"]


def test_senml_relative_times_are_relative_to_now() -> None:
    pack = [
        {"bn": DEV + "/", "n": "a", "t": -5, "v": 1},
        {"n": "a", "t": -2.5, "v": 2},
        {"n": "a", "t": 0, "v": 3},
        {"n": "b", "v": 4},
        {"n": "a", "t": 10, "v": 5},
    ]
    result = senml(pack)
    assert [(r.ts_ms, dict(r.values)) for r in result.readings] == [
        (NOW - 5000, {"a": 1.0}),
        (NOW - 2500, {"a": 2.0}),
        (NOW, {"a": 3.0, "b": 4.0}),
        (NOW + 10_000, {"a": 5.0}),
    ]


def test_senml_base_time_relative_and_absolute() -> None:
    pack = [{"bn": DEV + ".", "bt": -60, "n": "a", "t": -1, "v": 1}, {"bt": NOW / 1000, "n": "a", "v": 2}]
    assert [r.ts_ms for r in senml(pack).readings] == [NOW - 61_000, NOW]


def test_senml_base_value_base_unit_and_value_kinds() -> None:
    pack = [
        {"bn": DEV + ":", "bv": 20, "bu": "Cel", "n": "temperature", "v": 1.5},
        {"n": "status", "vs": 'a,"=é'},
        {"n": "door", "vb": False},
    ]
    result = senml(pack, schema=SCHEMA)
    assert not result.rejected
    assert result.readings[0].values == {"temperature": 21.5, "status": 'a,"=é', "door": False}
    wrong = senml([{"bu": "K", "n": "temperature", "v": 20.0}], schema=SCHEMA)
    assert reasons(wrong) == ["unit"]
    assert senml([{"bu": "K", "n": "temperature", "v": 20.0}]).accepted == 1  # no schema, no unit check


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"n": "a", "s": 10}, "unsupported"),
        ({"n": "a", "vd": "aGk"}, "unsupported"),
        ({"n": "a", "v": 1, "ext_": 1}, "unsupported"),
        ({"n": "a"}, "no_values"),
        ({"n": "a", "v": 1, "vs": "x"}, "shape"),
        ({"n": "a", "v": "1"}, "value_type"),
        ({"n": "a", "vb": 1}, "value_type"),
        ({"n": "a", "vs": 1}, "value_type"),
        ({"n": "a", "vs": "x\ny"}, "control_character"),
        ({"n": 5, "v": 1}, "shape"),
        ({"n": "a", "u": 5, "v": 1}, "shape"),
        ({"n": "a", "t": "now", "v": 1}, "timestamp"),
        ({"n": "a", "t": 1e300, "v": 1}, "timestamp"),
        ({"n": "a", "t": 1_000_000_000, "v": 1}, "timestamp_past"),
        ({"n": "a", "t": 3600, "v": 1}, "timestamp_future"),
        ({"n": "bad name", "v": 1}, "metric_name"),
        ({"n": "time", "v": 1}, "metric_name"),
        ({"n": "site", "v": 1}, "metric_name"),
        ({"n": "a", "v": 1e400}, "not_finite"),
    ],
)
def test_senml_record_faults(record: dict[str, Any], reason: str) -> None:
    assert reasons(senml([record])) == [reason]


def test_senml_unknown_labels_are_ignored() -> None:
    assert senml([{"n": "a", "v": 1, "l": "link", "x": 1, "ut": 60}]).accepted == 1


@pytest.mark.parametrize(
    "bn",
    [DEV + ":", DEV + "/", DEV + "."],
)
def test_senml_base_name_is_the_device_and_a_separator(bn: str) -> None:
    assert senml([{"bn": bn, "n": "temperature", "v": 21.0}]).readings[0].values == {"temperature": 21.0}


@pytest.mark.parametrize(
    ("bn", "n"),
    [("esp32-garage:", "temperature"), (DEV, "temperature"), ("urn:dev:", "x"), ("ESP32-KITCHEN:", "a")],
)
def test_senml_names_of_other_devices_are_rejected(bn: str, n: str) -> None:
    result = senml([{"bn": bn, "n": n, "v": 1.0}])
    assert reasons(result) == ["device_mismatch"]
    assert "does not start with the authenticated device" in errors(result)[0]


def test_senml_names_without_base_name() -> None:
    assert senml([{"n": "temperature", "v": 1.0}]).readings[0].values == {"temperature": 1.0}
    assert senml([{"n": DEV + ":temperature", "v": 1.0}]).readings[0].values == {"temperature": 1.0}
    assert reasons(senml([{"n": "esp32-garage:temperature", "v": 1.0}])) == ["metric_name"]
    assert reasons(senml([{"bn": DEV + ":", "v": 1.0}])) == ["metric_name"]


def test_senml_duplicates_and_mixed_records() -> None:
    pack = [
        {"bn": DEV + ":", "n": "a", "t": -1, "v": 1},
        {"n": "a", "t": -1, "v": 2},
        {"n": "b", "t": -1, "v": 3},
        "junk",
        {"n": "c", "t": -1, "v": None},
    ]
    result = senml(pack)
    assert result.readings == [Reading(DEV, NOW - 1000, {"a": 1.0, "b": 3.0}, TAGS)]
    assert [(r.index, r.reasons) for r in result.rejected] == [
        (1, ["duplicate"]),
        (3, ["shape"]),
        (4, ["value_type"]),
    ]
    assert result.rejected[0].errors == ["a at this time duplicates record 0"]


def test_senml_metric_limit_per_time() -> None:
    pack = [{"n": name, "v": 1} for name in "abc"]
    result = senml(pack, limits=Limits(max_metrics=2))
    assert result.readings[0].values == {"a": 1.0, "b": 1.0}
    assert [(r.index, r.reasons) for r in result.rejected] == [(2, ["too_many_metrics"])]


@pytest.mark.parametrize(
    ("pack", "reason"),
    [
        ({"n": "a", "v": 1}, "shape"),
        ([], "empty"),
        ([{"n": "a", "v": 1}, {"bt": "now", "n": "a", "v": 2}], "shape"),
        ([{"bn": 5, "n": "a", "v": 1}], "shape"),
        ([{"bv": True, "n": "a", "v": 1}], "shape"),
        ([{"bver": 11, "n": "a", "v": 1}], "unsupported"),
    ],
)
def test_senml_document_faults(pack: object, reason: str) -> None:
    assert senml(pack).document_reasons == [reason]


def test_senml_version_10_is_understood() -> None:
    assert senml([{"bver": 10, "n": "a", "v": 1}]).accepted == 1


def test_senml_reading_and_record_limits() -> None:
    limits = Limits(max_readings=2, max_metrics=2)
    pack = [{"n": "a", "t": -i, "v": 1} for i in range(3)]
    assert senml(pack, limits=limits).document_reasons == ["too_many_readings"]
    assert senml(pack[:2], limits=limits).accepted == 2
    records = [{"n": "a", "t": -i, "v": 1} for i in range(5)]
    assert senml(records, limits=limits).document_errors == ["5 records exceed the limit of 4 per document"]
