# Helpers for the scenarios run under MicroPython: a config, a device wired to the fakes, captured
# logs, and FIGURE lines that pytest reads back.
import json

from iotfw.ack import Stats
from iotfw.auth import Auth
from iotfw.config import DEFAULTS
from iotfw.device import Device
from iotfw.http import HttpClient
from iotfw.log import Log
from iotfw.sensors.simulated import Simulated
from iotfw.spool import Spool

from fakes import FixedClock, HttpGateway, MqttBroker

URL = "http://gw.test:8000"


class Capture:
    """Log output kept in memory (and echoed when echo is set)."""

    def __init__(self, echo: bool = False, keep: bool = True) -> None:
        self.lines = []
        self.echo = echo
        self.keep = keep

    def __call__(self, line: str) -> None:
        if self.keep:
            self.lines.append(line)
        if self.echo:
            print(line)

    def count(self, text: str) -> int:
        return len([1 for line in self.lines if text in line])


_devices = [0]


def config(**overrides) -> dict:
    """A device's config; each gets its own spool folder unless one is given."""
    _devices[0] += 1
    cfg = dict(DEFAULTS)
    cfg.update(
        {
            "device_id": "dev-1",
            "secret": "s3cret",
            "gateway_url": URL,
            "spool_dir": "/flash/spool%d" % _devices[0],
            "wdt_timeout_ms": 0,
            "sample_interval_s": 0.02,
            "batch_size": 10,
            "batch_max_age_s": 0.2,
            "backoff_base_ms": 40,
            "backoff_max_ms": 400,
        }
    )
    cfg.update(overrides)
    return cfg


def http_device(cfg, gw=None, capture=None, sensors=None, clock=None, link=None, wdt=None):
    gw = gw if gw is not None else HttpGateway()
    log = Log(cfg["device_id"], "info", capture if capture is not None else Capture())
    stats = Stats()
    http = HttpClient(cfg["gateway_url"], gw.connect, int(cfg["request_timeout_s"] * 1000))
    auth = Auth(
        http, cfg["device_id"], cfg["secret"], log, cfg["token_renew_margin_s"], cfg["secret_rejected_backoff_s"]
    )
    from iotfw.transport_http import HttpTransport

    transport = HttpTransport(http, auth, stats, log)
    spool = Spool(cfg["spool_dir"], cfg["spool_max_kb"] * 1024, log)
    dev = Device(
        cfg,
        transport,
        sensors if sensors is not None else [Simulated()],
        spool,
        clock or FixedClock(),
        link,
        wdt,
        log,
        stats,
    )
    return dev, gw, auth


def mqtt_device(cfg, broker=None, capture=None, clock=None, link=None):
    broker = broker if broker is not None else MqttBroker()
    log = Log(cfg["device_id"], "info", capture if capture is not None else Capture())
    stats = Stats()
    # The token endpoint stays HTTP: a second fake in front of the same gateway model.
    token_gw = HttpGateway(broker.model)
    http = HttpClient(cfg["gateway_url"], token_gw.connect, int(cfg["request_timeout_s"] * 1000))
    auth = Auth(
        http, cfg["device_id"], cfg["secret"], log, cfg["token_renew_margin_s"], cfg["secret_rejected_backoff_s"]
    )
    from iotfw.mqtt import MqttClient
    from iotfw.transport_mqtt import MqttTransport

    client = MqttClient(
        "gw.test", 1883, cfg["device_id"], cfg["device_id"], cfg["secret"], broker.connect, log, cfg["mqtt_keepalive_s"]
    )
    transport = MqttTransport(
        client,
        auth,
        cfg["device_id"],
        stats,
        log,
        int(cfg["request_timeout_s"] * 1000),
        int(cfg["ack_timeout_s"] * 1000),
    )
    spool = Spool(cfg["spool_dir"], cfg["spool_max_kb"] * 1024, log)
    dev = Device(cfg, transport, [Simulated()], spool, clock or FixedClock(), link, None, log, stats)
    return dev, broker, auth


def ts_of(body) -> list:
    return [r["ts"] for r in json.loads(body)["readings"]]


async def until(cond, timeout_ms: int = 5000, step_ms: int = 10) -> bool:
    """Wait until cond() is true; False on timeout."""
    import asyncio

    waited = 0
    while not cond():
        if waited >= timeout_ms:
            return False
        await asyncio.sleep_ms(step_ms)
        waited += step_ms
    return True


def spooled_readings(directory: str) -> int:
    """Readings in the flash spool, counted from the segment files."""
    import os

    n = 0
    for name in os.listdir(directory):
        if name.endswith(".seg"):
            with open(directory + "/" + name, "rb") as f:
                n += f.read().count(b"\n")
    return n


def figure(name: str, value) -> None:
    print("FIGURE %s %s" % (name, json.dumps(value)))


def check(cond, msg: str) -> None:
    if not cond:
        raise AssertionError(msg)
