# A stand-in for MicroPython's `machine` module inside the WebAssembly interpreter (which has none).
class Pin:
    IN = 1
    OUT = 3
    PULL_UP = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id

    def value(self, v=None):
        return 1


class RTC:
    def __init__(self, id=0):
        self.value = None

    def datetime(self, t=None):
        if t is not None:
            self.value = t
        return self.value


class WDT:
    instances = []

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        WDT.instances.append(self)

    def feed(self):
        self.feeds += 1


def reset():
    raise SystemExit("machine.reset()")
