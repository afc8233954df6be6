"""The cached line encoder writes exactly what influxdb-client's Point writes, escaping included."""

from __future__ import annotations

import pytest

from gateway.storage.base import Reading
from gateway.storage.influx import LineEncoder
from tests.support.lines import to_line

AWKWARD = ['a,b c=d "q"', "back\\slash\\", "ünï ✓ 温度", "=", " lead", "trail "]


@pytest.mark.parametrize(
    "reading",
    [
        Reading("dev-1", 1764320000123, {"temperature": 21.5, "humidity": 40.0}),
        Reading("dev 2,x=y", 1, {"t": -0.000123, "big": 1e300, "whole": 3.0}, {"site": 'north, "A"=1'}),
        Reading("d", 5, {"on": True, "off": False, "label": 'a,b c=d "q" \\ \u00fc'}, {"k\\": "v\\"}),
        *[Reading("d", i, {name: 1.5}, {"tag": name}) for i, name in enumerate(AWKWARD)],
        *[Reading("d", i, {"s": value}) for i, value in enumerate(AWKWARD)],
    ],
)
def test_encoder_matches_point(reading: Reading) -> None:
    encoder = LineEncoder("readings")
    expected = to_line(reading, "readings")
    # Fields may come in another order; the line's series, fields and timestamp must be the same.
    got = encoder.lines([reading])
    assert _same_series(got, expected)
    assert _fields(got) == _fields(expected)
    assert got.rsplit(" ", 1)[1] == expected.rsplit(" ", 1)[1]
    assert encoder.lines([reading]) == got  # the cached path gives the same line
    assert encoder.lines([reading, reading]) == f"{got}\n{got}"  # and so does the same series again


def test_integers_are_written_as_floats() -> None:
    # Validation already makes every number a float; a replayed int must not become an InfluxDB integer field.
    assert LineEncoder("m").lines([Reading("d", 1, {"n": 21})]) == "m,device_id=d n=21 1"


def _fields(line: str) -> list[str]:
    head = line.rpartition(" ")[0]
    series_end = _unescaped_space(head)
    return sorted(_split_fields(head[series_end + 1 :]))


def _same_series(a: str, b: str) -> bool:
    return a[: _unescaped_space(a)] == b[: _unescaped_space(b)]


def _unescaped_space(text: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == " ":
            return i
        i += 1
    return len(text)


def _split_fields(text: str) -> list[str]:
    parts, current, quoted, i = [], "", False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current += text[i : i + 2]
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
        i += 1
    parts.append(current)
    return parts
