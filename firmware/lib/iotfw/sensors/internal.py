# The ESP32's own temperature sensor: esp32.mcu_temperature() (degC, ESP32-S2/S3/C3/C6) or, on the
# original ESP32, esp32.raw_temperature() (degF, uncalibrated: a trend, not a room temperature).


class Internal:
    name = "internal"

    def __init__(self, prefix: str = "", esp32_module=None) -> None:
        if esp32_module is None:
            import esp32 as esp32_module
        self._mcu = getattr(esp32_module, "mcu_temperature", None)
        self._raw = getattr(esp32_module, "raw_temperature", None)
        if self._mcu is None and self._raw is None:
            raise OSError("no internal temperature sensor")
        self.key = prefix + "mcu_temperature"

    async def read(self, out: dict) -> None:
        if self._mcu is not None:
            out[self.key] = self._mcu()
        elif self._raw is not None:
            out[self.key] = round((self._raw() - 32) / 1.8, 1)
