# DS18B20 1-Wire temperature probes (MicroPython's built-in onewire/ds18x20): one conversion for all
# probes on the bus, awaited (750 ms) instead of blocking. One probe: "temperature"; several:
# "temperature_1", "temperature_2", ... in ROM order.
from ..rt import sleep_ms

CONVERSION_MS = 750


def ds_from_spec(spec: dict):
    import ds18x20
    import machine
    import onewire

    return ds18x20.DS18X20(onewire.OneWire(machine.Pin(spec.get("pin", 5))))


class DS18B20:
    name = "ds18b20"

    def __init__(self, ds, prefix: str = "") -> None:
        self.ds = ds
        self.prefix = prefix
        self.roms = []
        self.keys = []

    def _scan(self) -> None:
        self.roms = sorted(self.ds.scan())
        if len(self.roms) == 1:
            self.keys = [self.prefix + "temperature"]
        else:
            self.keys = ["%stemperature_%d" % (self.prefix, i + 1) for i in range(len(self.roms))]

    async def read(self, out: dict) -> None:
        if not self.roms:
            self._scan()
            if not self.roms:
                raise OSError("no DS18B20 on the bus")
        self.ds.convert_temp()
        await sleep_ms(CONVERSION_MS)
        for i in range(len(self.roms)):
            t = self.ds.read_temp(self.roms[i])
            if t is not None and t != 85.0:  # 85.0 is the power-on value, not a reading
                out[self.keys[i]] = t
