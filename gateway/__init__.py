"""iot-gateway: ingestion gateway for fleets of ESP32 microcontrollers."""

__version__ = "0.1.0"
