"""Fixtures for the firmware tests (helpers in runner.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.firmware.runner import (
    BOARD_FAKES,
    HELPERS,
    HERE,
    LIB,
    MICROPYTHON_PKG,
    RUNNER,
    SCENARIOS,
    SHIMS,
    MpyRun,
    compile_lib,
    parse_figures,
)


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    if path is None or not (MICROPYTHON_PKG / "micropython.mjs").exists():
        pytest.fail("MicroPython (WebAssembly) is not installed: run scripts/firmware-tools")
    return path


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
        args = [node, str(RUNNER), "--heap", heap, "--lib", str(lib), "--lib", str(HELPERS), "--lib", str(BOARD_FAKES)]
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
    for path in (HELPERS, LIB, SHIMS):  # SHIMS ends up first on sys.path
        monkeypatch.syspath_prepend(str(path))
    yield
    for name in list(sys.modules):
        if name == "iotfw" or name.startswith("iotfw.") or name in ("gateway_model", "ticks"):
            del sys.modules[name]
