"""The firmware's own code on CPython: ``firmware/lib`` of the repository checkout plus the shims in ``shims/``.

The simulator runs exactly the files that are flashed to the boards, so it finds them in the checkout this package
was imported from (``<repo>/firmware/lib``; an editable install or a run from the checkout), or in a directory given
with ``--firmware``. The firmware is not packaged into the wheel: it lies outside the ``gateway`` package and is its
own deliverable (MicroPython, type-checked against the board's stubs); the shims, which only the simulator and the
tests need, do ship with the package.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

SHIMS = Path(__file__).resolve().parent / "shims"
CHECKOUT_LIB = Path(__file__).resolve().parents[2] / "firmware" / "lib"


class FirmwareNotFound(RuntimeError):
    """No ``iotfw`` package where it was looked for."""


def find_lib(explicit: str | Path | None = None) -> Path:
    """The directory holding the firmware's ``iotfw`` package."""
    lib = Path(explicit).expanduser().resolve() if explicit else CHECKOUT_LIB
    if (lib / "iotfw" / "device.py").is_file():
        return lib
    if (lib / "lib" / "iotfw" / "device.py").is_file():  # the firmware directory itself was given
        return lib / "lib"
    raise FirmwareNotFound(
        f"the firmware library (iotfw) is not in {lib}: `iot-gateway simulate` runs the firmware from a checkout of "
        "the repository (firmware/lib); run it from one, or give the directory with --firmware"
    )


@dataclass(frozen=True)
class Firmware:
    """The firmware modules the simulator uses (untyped MicroPython code, hence plain modules)."""

    lib: Path
    board: ModuleType
    config: ModuleType
    log: ModuleType
    ack: ModuleType


def load(lib: Path) -> Firmware:
    """Import the firmware with the shims first on ``sys.path`` (they stand in for ``machine``, ``network``...)."""
    for path in (str(lib), str(SHIMS)):  # SHIMS ends up first
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    loaded = sys.modules.get("iotfw")
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve().parent.parent != lib:
        raise FirmwareNotFound(f"another firmware is already imported from {loaded.__file__}")
    return Firmware(
        lib,
        importlib.import_module("iotfw.board"),
        importlib.import_module("iotfw.config"),
        importlib.import_module("iotfw.log"),
        importlib.import_module("iotfw.ack"),
    )
