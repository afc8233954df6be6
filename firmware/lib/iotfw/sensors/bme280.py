# Bosch BME280 (temperature, humidity, pressure) or BMP280 (no humidity) on I2C, in forced mode:
# one measurement per read, awaited instead of blocking. Compensation: the floating-point formulas of
# the BME280 datasheet (section 8.1). Pressure is reported in hPa.
import struct

from ..rt import sleep_ms

CHIP_ID = 0xD0
CTRL_HUM = 0xF2
STATUS = 0xF3
CTRL_MEAS = 0xF4
DATA = 0xF7
BME280_ID = 0x60
BMP280_ID = 0x58


def i2c_from_spec(spec: dict):
    import machine

    return machine.I2C(spec.get("i2c", 0), sda=machine.Pin(spec.get("sda", 21)), scl=machine.Pin(spec.get("scl", 22)),
                       freq=spec.get("freq", 100000))


def _s12(v: int) -> int:
    return v - 4096 if v & 0x800 else v


class BME280:
    name = "bme280"

    def __init__(self, i2c, address: int = 0x76, prefix: str = "") -> None:
        self.i2c = i2c
        self.addr = address
        self.k_temp = prefix + "temperature"
        self.k_hum = prefix + "humidity"
        self.k_press = prefix + "pressure"
        self._data = bytearray(8)
        chip = i2c.readfrom_mem(address, CHIP_ID, 1)[0]
        if chip not in (BME280_ID, BMP280_ID):
            raise OSError("no BME280/BMP280 at 0x%02x (chip id 0x%02x)" % (address, chip))
        self.humidity = chip == BME280_ID
        c = i2c.readfrom_mem(address, 0x88, 26)
        (self.t1, self.t2, self.t3, self.p1, self.p2, self.p3, self.p4, self.p5, self.p6, self.p7, self.p8,
         self.p9) = struct.unpack("<HhhHhhhhhhhh", c[:24])
        self.h1 = c[25]
        if self.humidity:
            h = i2c.readfrom_mem(address, 0xE1, 7)
            self.h2 = struct.unpack("<h", h[0:2])[0]
            self.h3 = h[2]
            self.h4 = _s12((h[3] << 4) | (h[4] & 0x0F))
            self.h5 = _s12((h[5] << 4) | (h[4] >> 4))
            self.h6 = h[6] - 256 if h[6] > 127 else h[6]

    async def read(self, out: dict) -> None:
        i2c, addr = self.i2c, self.addr
        if self.humidity:
            i2c.writeto_mem(addr, CTRL_HUM, b"\x01")  # humidity oversampling x1
        i2c.writeto_mem(addr, CTRL_MEAS, b"\x25")  # temperature x1, pressure x1, forced mode
        await sleep_ms(10)  # a x1/x1/x1 measurement takes at most 9.3 ms
        for _ in range(10):
            if not i2c.readfrom_mem(addr, STATUS, 1)[0] & 0x08:
                break
            await sleep_ms(2)
        d = self._data
        i2c.readfrom_mem_into(addr, DATA, d)
        raw_p = (d[0] << 12) | (d[1] << 4) | (d[2] >> 4)
        raw_t = (d[3] << 12) | (d[4] << 4) | (d[5] >> 4)
        t_fine = self._t_fine(raw_t)
        out[self.k_temp] = round(t_fine / 5120.0, 2)
        p = self._pressure(raw_p, t_fine)
        if p is not None:
            out[self.k_press] = round(p / 100.0, 2)
        if self.humidity:
            out[self.k_hum] = round(self._humidity((d[6] << 8) | d[7], t_fine), 1)

    def _t_fine(self, raw: int) -> float:
        v1 = (raw / 16384.0 - self.t1 / 1024.0) * self.t2
        v2 = raw / 131072.0 - self.t1 / 8192.0
        return v1 + v2 * v2 * self.t3

    def _pressure(self, raw: int, t_fine: float):
        v1 = t_fine / 2.0 - 64000.0
        v2 = v1 * v1 * self.p6 / 32768.0
        v2 = v2 + v1 * self.p5 * 2.0
        v2 = v2 / 4.0 + self.p4 * 65536.0
        v1 = (self.p3 * v1 * v1 / 524288.0 + self.p2 * v1) / 524288.0
        v1 = (1.0 + v1 / 32768.0) * self.p1
        if v1 == 0:
            return None
        p = 1048576.0 - raw
        p = (p - v2 / 4096.0) * 6250.0 / v1
        v1 = self.p9 * p * p / 2147483648.0
        v2 = p * self.p8 / 32768.0
        return p + (v1 + v2 + self.p7) / 16.0

    def _humidity(self, raw: int, t_fine: float) -> float:
        h = t_fine - 76800.0
        h = (raw - (self.h4 * 64.0 + self.h5 / 16384.0 * h)) * (
            self.h2 / 65536.0 * (1.0 + self.h6 / 67108864.0 * h * (1.0 + self.h3 / 67108864.0 * h))
        )
        h = h * (1.0 - self.h1 * h / 524288.0)
        return min(max(h, 0.0), 100.0)
