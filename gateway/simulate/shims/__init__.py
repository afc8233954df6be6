"""CPython stand-ins for the MicroPython modules the firmware imports.

``machine``, ``network``, ``ntptime``, ``esp``, ``esp32``, ``dht``, ``onewire`` and ``ds18x20``, so that
``firmware/lib/iotfw`` (and ``firmware/main.py``) import and run on CPython: put this folder (not the package) and
``firmware/lib`` on ``sys.path``, as :mod:`gateway.simulate.firmware` does. The Wi-Fi station joins at once, the
watchdog and RTC only count, and buses raise ``OSError`` (no hardware). Used by ``iot-gateway simulate`` and by the
firmware tests that run the device on CPython (``tests/firmware``); they ship with the package for the simulator.
"""
