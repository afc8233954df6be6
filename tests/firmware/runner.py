"""Paths and helpers of the firmware tests.

The firmware's logic runs under a real MicroPython interpreter: the WebAssembly port from npm
(`@micropython/micropython-webassembly-pyscript`, MicroPython 1.27) driven by Node.js through
`mpy_run.mjs`. `scripts/firmware-tools` installs it into `tests/firmware/node_modules`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIRMWARE = ROOT / "firmware"
LIB = FIRMWARE / "lib"
HELPERS = HERE / "mpy"
BOARD_FAKES = HERE / "mpy_board"  # machine, network, socket stand-ins inside the WebAssembly interpreter
SCENARIOS = HELPERS / "scenarios"
SHIMS = ROOT / "gateway" / "simulate" / "shims"  # shipped with the package: `iot-gateway simulate` uses them
RUNNER = HERE / "mpy_run.mjs"
MICROPYTHON_PKG = HERE / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"


@dataclass
class MpyRun:
    returncode: int
    stdout: str
    stderr: str
    figures: dict[str, object] = field(default_factory=dict)

    def ok(self) -> MpyRun:
        assert self.returncode == 0, f"MicroPython scenario failed:\n{self.stderr}\n{self.stdout[-2000:]}"
        return self


def parse_figures(stdout: str) -> dict[str, object]:
    figures: dict[str, object] = {}
    for line in stdout.splitlines():
        if line.startswith("FIGURE "):
            _, name, value = line.split(" ", 2)
            figures[name] = json.loads(value)
    return figures


def compile_lib(dest: Path, *extra: str) -> list[Path]:
    """mpy-cross every firmware library module into dest; returns the .mpy files."""
    out = []
    for src in sorted(LIB.rglob("*.py")):
        target = dest / src.relative_to(LIB).with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "mpy_cross", *extra, "-o", str(target), str(src)],
            check=True,
            capture_output=True,
            text=True,
        )
        out.append(target)
    return out
