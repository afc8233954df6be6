"""Heap use of the firmware under MicroPython, as deployed (.mpy bytecode) and built as main.py builds it.
The figures are the firmware's own share of gc.mem_alloc(): code and data, without the interpreter's
asyncio module and the test's fakes. Targets: steady state <= 40 KB (the heap between sends, 90th
percentile of samples taken every 40 ms), peak while sending a batch <= 64 KB (measured with the collector
disabled during the send, so every allocation the send makes counts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.firmware.runner import MpyRun

STEADY_MAX = 40 * 1024
PEAK_MAX = 64 * 1024


@pytest.mark.parametrize("transport", ["http", "mqtt"])
def test_heap_steady_and_peak(
    transport: str, run_mpy: Callable[..., MpyRun], mpy_lib: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run_mpy("heap", lib=mpy_lib, params={"TRANSPORT": transport}).ok()
    code, steady, peak = (int(res.figures[k]) for k in ("code_bytes", "steady_bytes", "peak_bytes"))  # type: ignore[call-overload]
    with capsys.disabled():
        print(
            f"\n[firmware heap, {transport}] after start {code / 1024:.1f} KB, steady {steady / 1024:.1f} KB, "
            f"peak while sending {peak / 1024:.1f} KB ({res.figures['accepted']} readings)"
        )
    assert res.figures["accepted"] >= 220  # type: ignore[operator]
    assert res.figures["wdt_feeds"] >= 1  # type: ignore[operator]
    assert steady <= STEADY_MAX, f"steady heap {steady} B > {STEADY_MAX} B"
    assert peak <= PEAK_MAX, f"peak heap {peak} B > {PEAK_MAX} B"
    series = res.figures["steady_series"]
    assert isinstance(series, list) and len(series) >= 20
    quarter = len(series) // 4
    early, late = sorted(series[:quarter]), sorted(series[-quarter:])
    assert late[len(late) // 2] - early[len(early) // 2] < 2048, f"the heap keeps growing: {series}"
