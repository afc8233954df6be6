"""At least 10,000 readings survive an outage in flash and all arrive afterwards, oldest first, each
once. Two MicroPython runs: the first fills the flash spool while the gateway is unreachable and stops;
the second is a fresh interpreter (a reboot) given the same flash, which drains it to the gateway."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.firmware.runner import MpyRun

READINGS = 10_000


def test_ten_thousand_readings_survive_an_outage(
    run_mpy: Callable[..., MpyRun], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flash = tmp_path / "flash"
    out = run_mpy("offline", params={"PHASE": "outage", "READINGS": READINGS}, fs_out=flash).ok()
    assert out.figures["spooled"] == READINGS
    assert out.figures["dropped"] == 0
    segments = sorted((flash / "spool").glob("*.seg"))
    assert len(segments) == out.figures["segments"] > 0
    assert sum(p.read_bytes().count(b"\n") for p in segments) == READINGS

    back = run_mpy("offline", params={"PHASE": "drain", "READINGS": READINGS}, fs_in=flash).ok()
    assert back.figures["delivered"] == READINGS + 30
    assert back.figures["left_in_flash"] == 0
    with capsys.disabled():
        print(
            f"\n[firmware offline] {out.figures['spooled']} readings in {out.figures['segments']} flash segments "
            f"({out.figures['spool_bytes']} bytes); after the reboot {back.figures['delivered']} delivered "
            f"(+30 new), {back.figures['left_in_flash']} left"
        )
