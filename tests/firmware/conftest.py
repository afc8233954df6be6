"""Fixtures for the firmware tests.

The firmware's logic runs under a real MicroPython interpreter: the WebAssembly port from npm
(`@micropython/micropython-webassembly-pyscript`, MicroPython 1.27) driven by Node.js through
`mpy_run.mjs`. `scripts/firmware-tools` installs it into `tests/firmware/node_modules`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIRMWARE = ROOT / "firmware"
LIB = FIRMWARE / "lib"
HELPERS = HERE / "mpy"
SCENARIOS = HELPERS / "scenarios"
SHIMS = HERE / "shims"
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


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    if path is None or not (MICROPYTHON_PKG / "micropython.mjs").exists():
        pytest.fail("MicroPython (WebAssembly) is not installed: run scripts/firmware-tools")
    return path


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


@pytest.fixture(scope="session")
def mpy_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The firmware library as .mpy bytecode (how it is deployed; loadable by the WebAssembly port)."""
    dest = tmp_path_factory.mktemp("mpy-lib")
    compile_lib(dest)
    return dest


@pytest.fixture
def run_mpy(node: str, tmp_path: Path) -> Iterator[Callable[..., MpyRun]]:
    def run(
        scenario: str,
        *,
        lib: Path = LIB,
        params: dict[str, object] | None = None,
        fs_in: Path | None = None,
        fs_out: Path | None = None,
        heap: str = "192k",
        timeout: float = 240,
    ) -> MpyRun:
        args = [node, str(RUNNER), "--heap", heap, "--lib", str(lib), "--lib", str(HELPERS)]
        if params is not None:
            pdir = tmp_path / f"params-{scenario}"
            pdir.mkdir(exist_ok=True)
            (pdir / "params.py").write_text("".join(f"{k} = {v!r}\n" for k, v in params.items()))
            args += ["--lib", str(pdir)]
        if fs_in is not None:
            args += ["--fs-in", str(fs_in)]
        if fs_out is not None:
            args += ["--fs-out", str(fs_out)]
        args.append(str(SCENARIOS / f"{scenario}.py"))
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=HERE)
        return MpyRun(proc.returncode, proc.stdout, proc.stderr, parse_figures(proc.stdout))

    yield run


@pytest.fixture
def firmware_on_cpython(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The firmware library, its CPython shims and the shared test helpers importable on CPython."""
    for path in (SHIMS, LIB, HELPERS):
        monkeypatch.syspath_prepend(str(path))
    yield
    for name in list(sys.modules):
        if name == "iotfw" or name.startswith("iotfw.") or name in ("gateway_model", "ticks"):
            del sys.modules[name]
