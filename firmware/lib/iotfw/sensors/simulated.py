# A simulated sensor: smooth temperature and humidity with a little noise, different per seed.
import math
import random



class Simulated:
    name = "simulated"

    def __init__(self, prefix: str = "", seed: int = 0, base_temperature: float = 21.0) -> None:
        self.k_temp = prefix + "temperature"
        self.k_hum = prefix + "humidity"
        self.base = base_temperature
        self.phase = (seed % 628) / 100
        self.n = 0

    async def read(self, out: dict) -> None:
        self.n += 1
        x = self.phase + self.n / 60
        noise = (random.getrandbits(8) - 128) / 1280
        out[self.k_temp] = round(self.base + 3 * math.sin(x) + noise, 2)
        out[self.k_hum] = round(45 + 10 * math.cos(x) + noise * 5, 1)
