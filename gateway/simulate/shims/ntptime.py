"""CPython stand-in for MicroPython's `ntptime`: the host's clock is already right."""

import time as _time

host = "pool.ntp.org"
timeout = 1


def time() -> int:
    return int(_time.time())


def settime() -> None:
    return None
