"""The firmware's logic under a real MicroPython interpreter (1.27, WebAssembly port, fakes for the hardware
and the network written in MicroPython). Each scenario asserts inside MicroPython; the figures it prints
are checked here too."""

from __future__ import annotations

from collections.abc import Callable

from tests.firmware.runner import MpyRun

Run = Callable[..., MpyRun]


def test_batching(run_mpy: Run) -> None:
    res = run_mpy("batching").ok()
    assert res.figures["batch_sizes"] == [10, 10, 10, 5]
    assert res.figures["accepted"] == 35


def test_backoff_timing(run_mpy: Run) -> None:
    res = run_mpy("backoff").ok()
    gaps = res.figures["gaps_ms"]
    assert isinstance(gaps, list) and len(gaps) == 5
    assert gaps[3] > gaps[0]  # it grows
    assert res.figures["retry_after_gap_ms"] >= 1000  # type: ignore[operator]
    assert res.figures["pause_cut_ms"] < 1000  # type: ignore[operator]


def test_token_renewal_401_and_rotated_secret(run_mpy: Run) -> None:
    res = run_mpy("auth").ok()
    assert res.figures["renewal_token_requests"] >= 2  # type: ignore[operator]
    assert res.figures["renewal_statuses"] == [202]
    assert res.figures["after_401_statuses"] == [202, 401, 202]
    assert res.figures["rejected_token_requests"] == 1


def test_ack_handling_http(run_mpy: Run) -> None:
    res = run_mpy("acks").ok()
    assert res.figures["transient_statuses"] == [429, 503, 500, 202]
    assert 413 in res.figures["split_statuses"]  # type: ignore[operator]


def test_mqtt_publish_and_acks(run_mpy: Run) -> None:
    res = run_mpy("mqtt").ok()
    assert res.figures["connects"] == 3
    assert res.figures["mqtt_accepted"] == 29


def test_clock_epoch_and_sntp(run_mpy: Run) -> None:
    res = run_mpy("clock").ok()
    assert res.figures["this_port_epoch_year"] in (1970, 2000)
    assert abs(res.figures["ntp_error_ms"]) < 200  # type: ignore[arg-type]


def test_wifi_loss_and_watchdog(run_mpy: Run) -> None:
    res = run_mpy("link").ok()
    assert res.figures["received"] >= 10  # type: ignore[operator]


def test_sensors(run_mpy: Run) -> None:
    res = run_mpy("sensors").ok()
    assert res.figures["bme280"] == {"temperature": 25.08, "pressure": 1006.53, "humidity": 55.0}
    assert res.figures["values"] == ["humidity", "pressure", "temperature"]
