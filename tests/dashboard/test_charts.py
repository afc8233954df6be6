"""The pure parts of the pages: chart geometry, number formatting, the device form."""

from __future__ import annotations

import json

from starlette.datastructures import FormData

from gateway.dashboard import charts
from gateway.dashboard.forms import DeviceForm, firmware_config


def test_nice_ticks_cover_the_values_with_round_steps() -> None:
    assert charts.nice_ticks(3.2, 9.7) == [2, 4, 6, 8, 10]
    assert charts.nice_ticks(3.7501, 3.7519) == [3.75, 3.7505, 3.751, 3.7515, 3.752]
    assert charts.nice_ticks(5, 5) == [4.5, 4.75, 5, 5.25, 5.5]  # a flat line still gets a scale


def test_values_are_formatted_for_people() -> None:
    assert [charts.format_value(v) for v in (21.5, 21.456, 1234.56, 0.001234, 7, True, "open", None)] == [
        "21.5", "21.46", "1234.6", "0.00123", "7", "on", "open", "-",
    ]  # fmt: skip


def test_line_chart_scales_into_the_box_and_breaks_at_gaps() -> None:
    points = [(0, 1.0), (10, 2.0), (20, 3.0), (100, 1.0)]
    chart = charts.line_chart(points, 0, 100, gap_ms=15, time_step_ms=25, day=False)
    assert chart.line.startswith("M0.0,") and " M1000.0," in chart.line  # a new segment after the gap
    assert chart.area.count("Z") == 2 and (chart.low, chart.high) == (1.0, 3.0)
    assert [t.label for t in chart.y_ticks] == ["1.0", "1.5", "2.0", "2.5", "3.0"]
    assert [round(t.percent) for t in chart.x_ticks] == [25, 50, 75]
    empty = charts.line_chart([], 0, 100, gap_ms=15, time_step_ms=25, day=True)
    assert empty.line == "" and empty.count == 0


def test_sparkline_needs_two_points() -> None:
    assert charts.sparkline([(5, 1.0)], 0, 10) == ("", "")
    line, area = charts.sparkline([(0, 1.0), (10, 3.0)], 0, 10)
    assert line == "M0.0,30.0 L120.0,2.0" and area.endswith("Z")


def test_device_form_reads_tags_and_reports_errors_per_field() -> None:
    form = DeviceForm.read(FormData([("name", " Porch "), ("tags", "site = porch\n\nfloor=0"), ("enabled", "true")]))
    body = form.validate()
    assert body is not None and body.name == "Porch" and body.tags == {"site": "porch", "floor": "0"} and body.enabled
    bad = DeviceForm.read(FormData([("name", ""), ("device_id", "no spaces")]))
    assert bad.validate() is None and set(bad.errors) == {"name", "device_id"}
    assert DeviceForm(name="x", tags="oops").validate() is None


def test_firmware_config_is_the_json_the_firmware_reads() -> None:
    config = json.loads(firmware_config("dev-1", "s3cret", "http://10.0.0.2:8000"))
    assert config == {
        "device_id": "dev-1", "secret": "s3cret", "gateway_url": "http://10.0.0.2:8000", "transport": "http",
        "wifi_ssid": "YOUR-WIFI-NAME", "wifi_password": "YOUR-WIFI-PASSWORD",
    }  # fmt: skip
