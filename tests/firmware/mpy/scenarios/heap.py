# Heap use of the firmware under MicroPython, built exactly as main.py builds it (config -> board.build),
# over HTTP or MQTT (params.TRANSPORT). Figures are the firmware's own share:
# gc.mem_alloc() minus what the interpreter and the test's fakes held before the firmware was imported.
#   code:   after import and construction
#   steady: between sends, sampled every 40 ms after gc.collect() once warmed up: the 90th percentile
#           (a sample can land on a moment's garbage still referenced; those moments count in the peak)
#   peak:   the highest gc.mem_alloc() seen during a send, with the collector disabled for the send,
#           so every allocation the send makes counts (an upper bound of the true peak)
# Before each measurement the scenario yields to the JavaScript event loop for a moment: the wasm port
# scans its own C stack conservatively, and stale pointers there hold garbage until the loop unwinds.
import asyncio
import gc
import json
import socket  # noqa: F401

# Imported before the measurements start: the stand-ins for the board's modules are not the firmware's.
import machine
import network  # noqa: F401
from fakes import PROBE, HttpGateway, MqttBroker
from gateway_model import GatewayModel

try:
    import params

    TRANSPORT = params.TRANSPORT
except ImportError:
    TRANSPORT = "http"
BATCHES = 12
WARMUP = 3

# The fakes exist before the measurements start: their state is not the firmware's.
MODEL = GatewayModel(keep=False)
SERVER = MqttBroker(MODEL) if TRANSPORT == "mqtt" else HttpGateway(MODEL)
TOKEN_SERVER = HttpGateway(MODEL)
gc.collect()
M0 = gc.mem_alloc()


class Measured:
    """Wraps the transport: records the heap's peak during each send."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.retry_after_ms = 0
        self.steady = []
        self.peaks = []
        self.sending = False

    async def monitor(self) -> None:
        """The steady state: the heap between sends, once the sends have warmed up."""
        while True:
            await asyncio.sleep_ms(40)
            if not self.sending and len(self.peaks) >= WARMUP:
                gc.collect()
                self.steady.append(gc.mem_alloc() - M0)

    async def send(self, batch, start, end):
        await asyncio.sleep_ms(30)  # let the JavaScript loop unwind (see above)
        self.sending = True
        gc.collect()
        PROBE.peak = 0
        PROBE.enabled = True
        gc.disable()
        try:
            outcome = await self.inner.send(batch, start, end)
        finally:
            PROBE.sample()
            PROBE.enabled = False
            gc.enable()
            self.sending = False
            self.peaks.append(PROBE.peak - M0)
        self.retry_after_ms = self.inner.retry_after_ms
        return outcome

    async def close(self):
        await self.inner.close()


async def main():
    model, server, token_server = MODEL, SERVER, TOKEN_SERVER
    # --- the firmware, as main.py starts it ---
    from iotfw import config
    from iotfw.log import Log

    log = Log("fw", "warning")
    cfg = config.loads(
        json.dumps(
            {
                "device_id": "dev-1",
                "secret": "s3cret",
                "wifi_ssid": "lab",
                "wifi_password": "pw",
                "gateway_url": "http://gw.test:8000",
                "transport": TRANSPORT,
                "ntp_host": "",
                "sample_interval_s": 0.025,
                "batch_size": 20,
                "batch_max_age_s": 60,
                "spool_dir": "/flash/spool",
                "sensors": [{"type": "simulated"}],
            }
        )
    )
    import iotfw.http

    iotfw.http.open_tcp = server.connect  # the fakes stand in for asyncio.open_connection
    if TRANSPORT == "mqtt":
        iotfw.http.open_tcp = lambda host, port, tls: (token_server if port == 8000 else server).connect(
            host, port, tls
        )
    from iotfw import board

    device = board.build(cfg, log)
    device.clock.set_unix_ms(1767225600000, write_rtc=False)  # as if NTP had answered
    board.forget()
    del config, board
    measured = Measured(device.transport)
    device.sender.transport = measured
    await asyncio.sleep_ms(30)
    gc.collect()
    code = gc.mem_alloc() - M0
    task = asyncio.create_task(device.run())
    monitor = asyncio.create_task(measured.monitor())
    while len(measured.peaks) < BATCHES:
        await asyncio.sleep_ms(20)
    monitor.cancel()
    device.stop()
    await task
    ordered = sorted(measured.steady)
    steady = ordered[len(ordered) * 9 // 10]
    peak = max(measured.peaks)
    print("FIGURE transport %s" % json.dumps(TRANSPORT))
    print("FIGURE code_bytes %d" % code)
    print("FIGURE steady_bytes %d" % steady)
    print("FIGURE steady_max_bytes %d" % ordered[-1])
    print("FIGURE peak_bytes %d" % peak)
    print("FIGURE steady_series %s" % json.dumps(measured.steady))
    print("FIGURE peak_series %s" % json.dumps(measured.peaks))
    print("FIGURE accepted %d" % model.accepted)
    print("FIGURE wdt_feeds %d" % machine.WDT.instances[0].feeds)
    assert model.accepted >= BATCHES * 20 - 20, "readings delivered"
