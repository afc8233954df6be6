"""CPython stand-in for MicroPython's `onewire`: an empty bus."""


class OneWire:
    def __init__(self, pin: object) -> None:
        self.pin = pin

    def scan(self) -> list[bytes]:
        return []
