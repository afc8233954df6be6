"""CPython stand-in for MicroPython's `network`: a station interface that joins at once (the host's network)."""

from __future__ import annotations

STA_IF = 0
AP_IF = 1
STAT_GOT_IP = 1010


class WLAN:
    def __init__(self, interface: int = STA_IF) -> None:
        self.interface = interface
        self._active = False
        self._connected = False

    def active(self, on: bool | None = None) -> bool:
        if on is not None:
            self._active = on
        return self._active

    def connect(self, ssid: str | None = None, key: str | None = None) -> None:
        self._connected = True

    def disconnect(self) -> None:
        self._connected = False

    def isconnected(self) -> bool:
        return self._connected

    def status(self, param: str | None = None) -> int:
        return -50 if param == "rssi" else STAT_GOT_IP

    def ifconfig(self) -> tuple[str, str, str, str]:
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
