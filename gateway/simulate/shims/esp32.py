"""CPython stand-in for MicroPython's `esp32`: the chip's temperature sensor (ESP32-S3 style, degC)."""


def mcu_temperature() -> int:
    return 40
