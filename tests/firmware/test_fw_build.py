"""Every firmware file compiles for the ESP32 with mpy-cross (-march=xtensawin), and the firmware
type-checks against the MicroPython ESP32 stubs (pyright with the stubs' typeshed; its own config,
tests/firmware/pyrightconfig.json, apart from the gateway's mypy)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.firmware.runner import FIRMWARE, HERE, LIB, compile_lib

PYRIGHT = HERE / "node_modules" / "pyright" / "index.js"


def test_every_firmware_file_compiles_for_esp32(tmp_path: Path) -> None:
    sources = sorted(FIRMWARE.rglob("*.py"))
    assert len(sources) >= 20
    mpys = compile_lib(tmp_path / "lib", "-march=xtensawin")
    assert len(mpys) == len(list(LIB.rglob("*.py")))
    for entry in ("boot.py", "main.py"):
        subprocess.run(
            [sys.executable, "-m", "mpy_cross", "-march=xtensawin", "-o", str(tmp_path / entry), str(FIRMWARE / entry)],
            check=True,
            capture_output=True,
            text=True,
        )
        mpys.append(tmp_path / entry)
    for mpy in mpys:  # bytecode only (no @native code), so the header records no architecture
        head = mpy.read_bytes()[:4]
        assert head[0:1] == b"M" and head[1] == 6, f"{mpy}: not an mpy v6 file"


def test_mpy_cross_rejects_broken_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-march=xtensawin", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode != 0


def _pyright(*files: str) -> dict[str, object]:
    node = shutil.which("node")
    if node is None or not PYRIGHT.exists():
        pytest.fail("pyright is not installed: run scripts/firmware-tools")
    site = sysconfig.get_paths()["purelib"]
    if not (Path(site) / "stdlib" / "VERSIONS").exists() or not (Path(site) / "machine.pyi").exists():
        pytest.fail("micropython-esp32-stubs missing: pip install -e '.[dev]'")
    proc = subprocess.run(
        [
            node,
            str(PYRIGHT),
            "--outputjson",
            "-p",
            str(HERE / "pyrightconfig.json"),
            "--typeshedpath",
            site,
            "--pythonpath",
            sys.executable,
            *files,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report: dict[str, object] = json.loads(proc.stdout)
    return report


def test_firmware_type_checks_against_micropython_stubs() -> None:
    report = _pyright()
    summary = report["summary"]
    diagnostics = report["generalDiagnostics"]
    assert isinstance(summary, dict) and isinstance(diagnostics, list)
    assert summary["filesAnalyzed"] >= 20
    errors = [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}"
        for d in diagnostics
        if d["severity"] == "error"
    ]
    assert errors == []


def test_type_check_uses_the_micropython_stubs(tmp_path: Path) -> None:
    """A negative control: code that is fine on CPython but not on MicroPython must fail the check."""
    probe = tmp_path / "probe.py"
    probe.write_text("import time\nimport machine\ntime.monotonic()\nmachine.Pin(4).no_such_method()\n")
    report = _pyright(str(probe))
    messages = [d["message"] for d in report["generalDiagnostics"]]  # type: ignore[attr-defined]
    assert any("monotonic" in m for m in messages), messages
    assert any("no_such_method" in m for m in messages), messages
