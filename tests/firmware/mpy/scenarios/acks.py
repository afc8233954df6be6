# What the firmware does with each answer of the contract:
#   202 with rejected entries -> accepted counted, each rejected reading logged, nothing retried
#   422 (none valid), 400 -> the batch is dropped and logged, never retried
#   413 -> split in halves until it fits; everything arrives
#   429 / 503 / 500 / network error -> kept and sent again later; nothing lost
import asyncio

from fakes import HttpGateway
from gateway_model import GatewayModel
from harness import Capture, check, config, figure, http_device

T0 = 1767225600000


def fill(dev, values_list):
    for i in range(len(values_list)):
        dev.queue.add(T0 + i, values_list[i])


async def main():
    # 202 with two rejected readings.
    cap = Capture()
    dev, gw, _ = http_device(config(batch_size=5), capture=cap)
    dev.queue.spool.open()
    fill(dev, [{"t": 1}, {"t": 500000}, {"t": 2}, {"t": 700000}, {"t": 3}])
    await dev.sender.send_one()
    check(gw.model.accepted == 3 and dev.stats.accepted == 3 and dev.stats.rejected == 2, "3 accepted, 2 rejected")
    check(cap.count("reading 1 rejected: t: out of range") == 1, "rejection logged with index and reason")
    check(cap.count('"t":500000') >= 1, "the rejected reading itself is logged")
    check(gw.model.statuses == [202] and len(dev.queue.spool) == 0, "not retried, nothing kept")

    # 422: none valid -> dropped.
    cap = Capture()
    dev, gw, _ = http_device(config(batch_size=3), capture=cap)
    dev.queue.spool.open()
    fill(dev, [{"t": 500000}, {"t": 600000}, {"t": 700000}])
    await dev.sender.send_one()
    await asyncio.sleep_ms(100)
    check(gw.model.statuses == [422], "one 422, no retry")
    check(dev.stats.dropped == 3 and len(dev.queue.spool) == 0, "dropped, not kept")
    check(cap.count("gateway refused 3 readings (422") == 1, "logged")

    # 400: malformed -> dropped.
    dev, gw, _ = http_device(config(batch_size=2), capture=Capture())
    dev.queue.spool.open()
    gw.model.script = [400]
    fill(dev, [{"t": 1}, {"t": 2}])
    await dev.sender.send_one()
    check(gw.model.statuses == [400] and dev.stats.dropped == 2 and len(dev.queue.spool) == 0, "400 dropped")

    # 413: the gateway takes at most 3 readings per request -> a batch of 10 is split until it fits.
    dev, gw, _ = http_device(config(batch_size=10), gw=HttpGateway(GatewayModel(max_readings=3)), capture=Capture())
    dev.queue.spool.open()
    fill(dev, [{"t": i} for i in range(10)])
    await dev.sender.send_one()
    figure("split_statuses", gw.model.statuses)
    check(gw.model.received == [T0 + i for i in range(10)], "all 10 arrive, in order, after splitting")
    check(413 in gw.model.statuses and dev.stats.dropped == 0, "split on 413")

    # 413 then 503 in the middle of a split: the delivered half is not sent twice, the rest is kept.
    dev, gw, _ = http_device(
        config(batch_size=8, backoff_base_ms=20, backoff_max_ms=40),
        gw=HttpGateway(GatewayModel(max_readings=4)),
        capture=Capture(),
    )
    dev.queue.spool.open()
    fill(dev, [{"t": i} for i in range(8)])
    gw.model.retry_after = 0
    real = gw.model._readings
    calls = []

    def flaky(headers, body):
        calls.append(1)
        if len(calls) == 3:  # 413, first half 202, then the second half meets a 503
            return 503, ("Retry-After: 0",), b"{}"
        return real(headers, body)

    gw.model._readings = flaky
    await dev.sender.send_one()  # 413, 202, 503 -> the second half goes back to the queue
    check(gw.model.received == [T0 + i for i in range(4)], "first half delivered")
    check(len(dev.queue.spool) == 1 and dev.stats.dropped == 0, "second half kept")
    await dev.sender.send_one()
    check(gw.model.received == [T0 + i for i in range(8)], "second half delivered once, in order")

    # 429, 503, 500 and a network error in a row: each time kept, finally delivered, nothing lost.
    dev, gw, _ = http_device(config(batch_size=4, backoff_base_ms=10, backoff_max_ms=20), capture=Capture())
    dev.queue.spool.open()
    gw.model.retry_after = 0
    gw.model.script = [429, 503, 500]
    fill(dev, [{"t": i} for i in range(4)])
    for _ in range(3):
        check(not await dev.sender.send_one(), "transient failure reported")
    gw.down = True
    check(not await dev.sender.send_one(), "network failure reported")
    gw.down = False
    check(await dev.sender.send_one(), "delivered at last")
    figure("transient_statuses", gw.model.statuses)
    check(gw.model.statuses == [429, 503, 500, 202], "one attempt each")
    check(gw.model.received == [T0 + i for i in range(4)] and dev.stats.retries == 4, "nothing lost")

    # A gateway that never answers: the request times out and the batch is kept.
    dev, gw, _ = http_device(config(batch_size=2, request_timeout_s=0.2), capture=Capture())
    dev.queue.spool.open()
    fill(dev, [{"t": 1}, {"t": 2}])
    await dev.sender.transport.auth.token()
    gw.hang = True
    check(not await dev.sender.send_one(), "timeout is transient")
    check(len(dev.queue.spool) == 1, "kept after a timeout")
