# Sensors behind one interface, against fake buses: BME280 (the datasheet's calibration example),
# DHT22, DS18B20 (several probes, the 85.0 power-on value ignored), the ESP32's own sensor (degC or
# degF port), the simulated one; a failing sensor does not stop the others; an unusable part is left out.
import struct

from iotfw.log import Log
from iotfw.sensors.bme280 import BME280
from iotfw.sensors.dhtxx import DHT
from iotfw.sensors.ds18b20 import DS18B20
from iotfw.sensors.internal import Internal
from iotfw.sensors.simulated import Simulated

from harness import Capture, check, config, figure, http_device


class FakeI2C:
    """A BME280 at 0x76 with the datasheet's example calibration and raw values."""

    def __init__(self, chip=0x60):
        regs = bytearray(256)
        regs[0xD0] = chip
        cal = struct.pack("<HhhHhhhhhhhh", 27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
        regs[0x88 : 0x88 + 24] = cal
        regs[0xA1] = 75  # H1
        h4, h5 = 313, 50
        regs[0xE1:0xE8] = struct.pack("<hBBBBb", 362, 0, h4 >> 4, (h4 & 0x0F) | ((h5 & 0x0F) << 4), h5 >> 4, 30)
        raw_p, raw_t, raw_h = 415148, 519888, 30000
        regs[0xF7:0xFF] = bytes(
            [
                raw_p >> 12,
                (raw_p >> 4) & 0xFF,
                (raw_p & 0xF) << 4,
                raw_t >> 12,
                (raw_t >> 4) & 0xFF,
                (raw_t & 0xF) << 4,
                raw_h >> 8,
                raw_h & 0xFF,
            ]
        )
        self.regs = regs
        self.writes = []

    def readfrom_mem(self, addr, reg, n):
        check(addr == 0x76, "address")
        return bytes(self.regs[reg : reg + n])

    def readfrom_mem_into(self, addr, reg, buf):
        buf[:] = self.regs[reg : reg + len(buf)]

    def writeto_mem(self, addr, reg, data):
        self.writes.append((reg, bytes(data)))


class FakeDht:
    def __init__(self):
        self.measures = 0

    def measure(self):
        self.measures += 1

    def temperature(self):
        return 22.4

    def humidity(self):
        return 51.0


class FakeDs:
    def __init__(self, temps):
        self.temps = temps  # rom -> temperature
        self.converts = 0

    def scan(self):
        return list(self.temps.keys())

    def convert_temp(self):
        self.converts += 1

    def read_temp(self, rom):
        return self.temps[rom]


class Esp32New:
    @staticmethod
    def mcu_temperature():
        return 41


class Esp32Old:
    @staticmethod
    def raw_temperature():
        return 122  # degF


class Broken:
    name = "broken"

    async def read(self, out):
        raise OSError(19)  # ENODEV


async def main():
    i2c = FakeI2C()
    bme = BME280(i2c, 0x76, "")
    out = {}
    await bme.read(out)
    figure("bme280", out)
    check(out["temperature"] == 25.08, "temperature from the datasheet example: %s" % out)
    check(out["pressure"] == 1006.53, "pressure in hPa from the datasheet example")
    check(out["humidity"] == 55.0, "humidity")
    check((0xF2, b"\x01") in i2c.writes and (0xF4, b"\x25") in i2c.writes, "forced mode, x1 oversampling")
    bmp = BME280(FakeI2C(chip=0x58), 0x76, "out_")
    out = {}
    await bmp.read(out)
    check(set(out.keys()) == {"out_temperature", "out_pressure"}, "BMP280: no humidity, prefixed names")
    try:
        BME280(FakeI2C(chip=0x11))
        check(False, "wrong chip accepted")
    except OSError:
        pass

    dht_dev = FakeDht()
    dht = DHT(dht_dev)
    out = {}
    await dht.read(out)
    await dht.read(out)
    check(out == {"temperature": 22.4, "humidity": 51.0}, "DHT22")
    check(dht_dev.measures == 1, "no second measurement within 2 s")

    ds = DS18B20(FakeDs({b"\x28b": 19.5, b"\x28a": 18.25, b"\x28c": 85.0}))
    out = {}
    await ds.read(out)
    check(out == {"temperature_1": 18.25, "temperature_2": 19.5}, "probes in ROM order, 85.0 ignored: %s" % out)
    one = DS18B20(FakeDs({b"\x28a": 18.25}))
    out = {}
    await one.read(out)
    check(out == {"temperature": 18.25}, "one probe: temperature")

    out = {}
    await Internal("", Esp32New).read(out)
    check(out == {"mcu_temperature": 41}, "ESP32-S3 style sensor")
    out = {}
    await Internal("", Esp32Old).read(out)
    check(out == {"mcu_temperature": 50.0}, "original ESP32: degF converted")

    sim = Simulated("", 7)
    values = []
    for _ in range(50):
        out = {}
        await sim.read(out)
        values.append(out["temperature"])
    check(min(values) > 10 and max(values) < 30 and len(set(values)) > 10, "simulated values vary plausibly")

    # In a device: one broken sensor is logged and counted; the others still make a reading.
    cap = Capture()
    dev, gw, _ = http_device(config(batch_size=1), capture=cap, sensors=[Broken(), dht, bme])
    dev.queue.spool.open()
    check(await dev.sample(), "reading made")
    check(dev.stats.sensor_errors == 1 and cap.count("sensor broken") == 1, "failure logged")
    await dev.sender.send_one()
    figure("values", sorted(dev.values.keys()))
    check(gw.model.accepted == 1, "reading delivered")

    # board.build_sensors: unknown types and parts that cannot be set up are logged and left out.
    from iotfw import board

    cap = Capture()
    built = board.build_sensors([{"type": "simulated"}, {"type": "nope"}, {"type": "bme280"}], Log("b", "info", cap))
    check(len(built) == 1 and built[0].name == "simulated", "only the usable sensor")
    check(cap.count("sensor type nope is unknown") == 1 and cap.count("sensor bme280 unavailable") == 1, "logged")
