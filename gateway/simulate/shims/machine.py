"""CPython stand-in for MicroPython's `machine`: pins and buses without hardware, a counting watchdog."""

from __future__ import annotations

import time


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1

    def __init__(self, id: int, mode: int = -1, pull: int = -1, value: int | None = None) -> None:
        self.id = id
        self._value = 1 if value is None else value

    def value(self, v: int | None = None) -> int:
        if v is not None:
            self._value = v
        return self._value


class I2C:
    def __init__(self, id: int = 0, *, scl: Pin | None = None, sda: Pin | None = None, freq: int = 400000) -> None:
        self.id = id

    def scan(self) -> list[int]:
        return []

    def readfrom_mem(self, addr: int, reg: int, n: int) -> bytes:
        raise OSError(19, "no I2C device (CPython shim)")

    def readfrom_mem_into(self, addr: int, reg: int, buf: bytearray) -> None:
        raise OSError(19, "no I2C device (CPython shim)")

    def writeto_mem(self, addr: int, reg: int, data: bytes) -> None:
        raise OSError(19, "no I2C device (CPython shim)")


class RTC:
    def __init__(self, id: int = 0) -> None:
        self._datetime: tuple[int, ...] | None = None

    def datetime(self, t: tuple[int, ...] | None = None) -> tuple[int, ...]:
        if t is not None:
            self._datetime = t
        if self._datetime is not None:
            return self._datetime
        g = time.gmtime()
        return (g.tm_year, g.tm_mon, g.tm_mday, g.tm_wday, g.tm_hour, g.tm_min, g.tm_sec, 0)


class WDT:
    def __init__(self, id: int = 0, timeout: int = 5000) -> None:
        self.timeout = timeout
        self.feeds = 0

    def feed(self) -> None:
        self.feeds += 1


def unique_id() -> bytes:
    return b"\x00\x00\x00\x00\x00\x01"


def reset() -> None:
    raise SystemExit("machine.reset() (CPython shim)")


def freq() -> int:
    return 240_000_000
