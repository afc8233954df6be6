# DHT22 / DHT11 on one GPIO (MicroPython's built-in `dht` driver; one measure() is a few ms). The
# part needs 2 s between measurements: a faster schedule reuses the last values.
from ..rt import ticks_diff, ticks_ms

MIN_INTERVAL_MS = 2000


def dht_from_spec(spec: dict):
    import dht
    import machine

    pin = machine.Pin(spec.get("pin", 4), machine.Pin.IN, machine.Pin.PULL_UP)
    return dht.DHT11(pin) if spec["type"] == "dht11" else dht.DHT22(pin)


class DHT:
    name = "dht"

    def __init__(self, dev, prefix: str = "") -> None:
        self.dev = dev
        self.k_temp = prefix + "temperature"
        self.k_hum = prefix + "humidity"
        self._last = -MIN_INTERVAL_MS
        self._have = False

    async def read(self, out: dict) -> None:
        now = ticks_ms()
        if not self._have or ticks_diff(now, self._last) >= MIN_INTERVAL_MS:
            self.dev.measure()  # OSError(ETIMEDOUT) if the part does not answer
            self._last = now
            self._have = True
        out[self.k_temp] = self.dev.temperature()
        out[self.k_hum] = self.dev.humidity()
