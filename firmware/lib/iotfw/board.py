# Builds a Device from the configuration with the board's own hardware: the Wi-Fi station, the RTC,
# the hardware watchdog, the sensors and the flash file system. Used once at boot; main.py then drops
# this module (and config) to give their heap back. (On CPython the shims in gateway/simulate/shims
# stand in for machine and network.)
from .ack import Stats
from .auth import Auth
from .backoff import Backoff
from .clock import Clock
from .device import Device
from .http import Connector, HttpClient
from .spool import Spool
from .wifi import Wifi


def build_sensors(specs: list, log) -> list:
    """Sensors from the config's list; a part that cannot be set up is logged and left out."""
    sensors = []
    for spec in specs:
        kind = spec["type"]
        prefix = spec.get("prefix", "")
        try:
            if kind == "simulated":
                from .sensors.simulated import Simulated

                sensors.append(Simulated(prefix, spec.get("seed", 0), spec.get("base_temperature", 21.0)))
            elif kind == "internal":
                from .sensors.internal import Internal

                sensors.append(Internal(prefix))
            elif kind in ("bme280", "bmp280"):
                from .sensors.bme280 import BME280, i2c_from_spec

                sensors.append(BME280(i2c_from_spec(spec), spec.get("address", 0x76), prefix))
            elif kind in ("dht22", "dht11"):
                from .sensors.dhtxx import DHT, dht_from_spec

                sensors.append(DHT(dht_from_spec(spec), prefix))
            elif kind == "ds18b20":
                from .sensors.ds18b20 import DS18B20, ds_from_spec

                sensors.append(DS18B20(ds_from_spec(spec), prefix))
            else:
                log.error("sensor type %s is unknown", kind)
        except Exception as e:  # noqa: BLE001 - a missing part must not stop the others
            log.error("sensor %s unavailable: %r", kind, e)
    return sensors


def make_transport(cfg: dict, http, auth, stats, log, connect):
    timeout_ms = int(cfg["request_timeout_s"] * 1000)
    if cfg["transport"] == "mqtt":
        from .mqtt import MqttClient
        from .transport_mqtt import MqttTransport

        # The broker login is the device id and its secret (the gateway provisions it).
        client = MqttClient(cfg["mqtt_host"] or http.host, cfg["mqtt_port"], cfg["device_id"], cfg["device_id"],
                            cfg["secret"], connect, log, cfg["mqtt_keepalive_s"])
        return MqttTransport(client, auth, cfg["device_id"], stats, log, timeout_ms, int(cfg["ack_timeout_s"] * 1000))
    from .transport_http import HttpTransport

    return HttpTransport(http, auth, stats, log)


def build(cfg: dict, log) -> Device:
    import machine
    import network

    stats = Stats()
    connect = Connector().open
    http = HttpClient(cfg["gateway_url"], connect, int(cfg["request_timeout_s"] * 1000))
    auth = Auth(http, cfg["device_id"], cfg["secret"], log, cfg["token_renew_margin_s"],
                cfg["secret_rejected_backoff_s"])
    transport = make_transport(cfg, http, auth, stats, log, connect)
    link = None
    if cfg["wifi_ssid"]:
        link = Wifi(network.WLAN(network.STA_IF), cfg["wifi_ssid"], cfg["wifi_password"], Backoff(1000, 60000), log)
    clock = Clock(log, cfg["ntp_host"], cfg["ntp_resync_s"], Backoff(2000, 300000), machine.RTC())
    sensors = build_sensors(cfg["sensors"], log)
    spool = Spool(cfg["spool_dir"], cfg["spool_max_kb"] * 1024, log)
    wdt = machine.WDT(timeout=cfg["wdt_timeout_ms"]) if cfg["wdt_timeout_ms"] > 0 else None
    return Device(cfg, transport, sensors, spool, clock, link, wdt, log, stats)


def forget() -> None:
    """Drop the modules only needed at boot (this one and config), so their code is collected: out of
    sys.modules and off the package, which keeps a reference to each submodule imported from it."""
    import sys

    package = sys.modules["iotfw"]
    for name in ("board", "config"):
        sys.modules.pop("iotfw." + name, None)
        if name in package.__dict__:
            delattr(package, name)
