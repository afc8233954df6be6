# The offline buffer: while the gateway is unreachable, full batches spill to flash; when it is back
# they drain oldest first, then RAM; nothing is lost or duplicated. PHASE "outage" fills the spool and
# stops (the runner keeps /flash); PHASE "drain" is a fresh interpreter (a reboot) that delivers all.
import asyncio
import gc

import params

from fakes import HttpGateway
from gateway_model import GatewayModel
from harness import Capture, check, config, figure, http_device, spooled_readings, until

START = 1767225600000
SPOOL = "/flash/spool"


def cfg():
    return config(
        batch_size=50, batch_bytes=4096, spool_max_kb=2048, backoff_base_ms=20, backoff_max_ms=100, spool_dir=SPOOL
    )


async def outage():
    gw = HttpGateway()
    gw.down = True
    dev, gw, _ = http_device(cfg(), gw=gw, capture=Capture())
    dev.queue.spool.open()
    sender = asyncio.create_task(dev.sender.run())
    n = params.READINGS
    for i in range(n):
        dev.queue.add(START + i * 1000, {"temperature": 20 + (i % 100) / 10, "humidity": 40 + i % 7})
        if i % 500 == 0:
            await asyncio.sleep_ms(0)  # let the sender try (and fail) now and then
    await asyncio.sleep_ms(50)
    sender.cancel()
    dev.queue.save()  # what a planned stop does: RAM to flash
    gc.collect()
    check(gw.model.accepted == 0, "nothing delivered during the outage")
    check(gw.refused > 0, "the sender kept trying")
    in_flash = spooled_readings(SPOOL)
    figure("spooled", in_flash)
    figure("segments", len(dev.queue.spool))
    figure("spool_bytes", dev.queue.spool.bytes)
    figure("dropped", dev.stats.dropped)
    check(in_flash == n, "all %d readings in flash, found %d" % (n, in_flash))


async def drain():
    model = GatewayModel()
    dev, _, _ = http_device(cfg(), gw=HttpGateway(model), capture=Capture())
    dev.queue.spool.open()  # a fresh boot: finds what the last run left
    check(len(dev.queue.spool) > 0, "segments found after the reboot")
    # new readings arrive while draining: they must come after the old ones
    sender = asyncio.create_task(dev.sender.run())
    for i in range(30):
        dev.queue.add(START + (params.READINGS + i) * 1000, {"temperature": 21.0})
        await asyncio.sleep_ms(1)
    total = params.READINGS + 30
    ok = await until(lambda: model.accepted >= total, 120000, 20)
    sender.cancel()
    received = model.received
    figure("delivered", len(received))
    figure("left_in_flash", spooled_readings(SPOOL))
    check(ok, "all delivered, got %d" % model.accepted)
    expected = [START + i * 1000 for i in range(total)]
    check(received == expected, "oldest first, each once")
    check(len(dev.queue.spool) == 0 and spooled_readings(SPOOL) == 0, "spool empty afterwards")


async def main():
    if params.PHASE == "outage":
        await outage()
    else:
        await drain()
