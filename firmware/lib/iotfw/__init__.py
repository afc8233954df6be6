# iotfw: the iot-gateway device firmware library (MicroPython 1.2x on ESP32; also importable on CPython).
# One module per concern; see firmware/README.md for the map.
VERSION = "0.1.0"
