"""CPython stand-in for MicroPython's `dht`: no sensor on the pin."""

from __future__ import annotations


class DHT22:
    def __init__(self, pin: object) -> None:
        self.pin = pin

    def measure(self) -> None:
        raise OSError(110, "no DHT sensor (CPython shim)")

    def temperature(self) -> float:
        return 0.0

    def humidity(self) -> float:
        return 0.0


class DHT11(DHT22):
    pass
