"""CPython stand-in for MicroPython's `esp`."""


def osdebug(level: object) -> None:
    return None
