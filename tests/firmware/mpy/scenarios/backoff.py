# Backoff: the delay doubles per attempt within [ceiling/2, ceiling] up to the maximum and resets after
# a success; a sender facing an unreachable gateway retries on that schedule; Retry-After is obeyed;
# a Wi-Fi reconnection cuts a pause short.
import asyncio

from iotfw.backoff import Backoff
from iotfw.rt import ticks_diff, ticks_ms

from fakes import HttpGateway
from harness import Capture, check, config, figure, http_device, until


class Link:
    def __init__(self):
        self.up = asyncio.Event()
        self.up.set()
        self.generation = 1

    def is_up(self):
        return self.up.is_set()


async def main():
    # Pure schedule, with the extreme random draws.
    lo = Backoff(100, 1000, rand=lambda n: 0)
    hi = Backoff(100, 1000, rand=lambda n: n - 1)
    lows = [lo.next_ms() for _ in range(6)]
    highs = [hi.next_ms() for _ in range(6)]
    check(lows == [50, 100, 200, 400, 500, 500], "lower bounds %s" % lows)
    check(highs == [100, 200, 400, 800, 1000, 1000], "upper bounds %s" % highs)
    lo.reset()
    check(lo.next_ms() == 50, "reset")
    real = Backoff(100, 1000)
    draws = [real.next_ms() for _ in range(200)][5:]
    check(min(draws) >= 500 and max(draws) <= 1000 and len(set(draws)) > 20, "jitter spreads the delays")

    # A sender against an unreachable gateway: attempts spaced by the growing backoff.
    gw = HttpGateway()
    gw.down = True
    cfg = config(backoff_base_ms=40, backoff_max_ms=320, batch_size=5)
    dev, gw, _ = http_device(cfg, gw=gw, capture=Capture())
    dev.queue.spool.open()
    attempts = []
    connect = gw.connect

    async def timed_connect(host, port, tls):
        attempts.append(ticks_ms())
        return await connect(host, port, tls)

    dev.sender.transport.http._connect = timed_connect
    for i in range(5):
        dev.queue.add(1767225600000 + i, {"t": 1})
    sender = asyncio.create_task(dev.sender.run())
    await until(lambda: len(attempts) >= 6, 5000)
    gaps = [ticks_diff(attempts[i + 1], attempts[i]) for i in range(len(attempts) - 1)][:5]
    figure("gaps_ms", gaps)
    ceilings = [40, 80, 160, 320, 320]
    for gap, c in zip(gaps, ceilings):
        check(c // 2 <= gap <= c + 60, "gap %d outside [%d, %d]" % (gap, c // 2, c + 60))
    check(dev.stats.dropped == 0 and dev.stats.retries >= 5, "nothing lost while retrying")
    # The gateway comes back: the batch arrives and the backoff resets.
    gw.down = False
    check(await until(lambda: gw.model.accepted == 5, 2000), "delivered once the gateway is back")
    # The model counts the batch when it receives it; the sender resets once it has read the answer.
    check(await until(lambda: dev.sender.backoff.attempts == 0, 1000), "backoff reset after a success")
    sender.cancel()

    # 503 with Retry-After: 1 -> the next attempt waits at least a second, and nothing is lost.
    dev, gw, _ = http_device(config(backoff_base_ms=20, backoff_max_ms=40, batch_size=5), capture=Capture())
    dev.queue.spool.open()
    gw.model.retry_after = 1
    gw.model.script = [503]
    for i in range(5):
        dev.queue.add(1767225600000 + i, {"t": 1})
    sender = asyncio.create_task(dev.sender.run())
    check(await until(lambda: gw.model.accepted == 5, 3000), "delivered after Retry-After")
    gap = ticks_diff(gw.times[1], gw.times[0])
    figure("retry_after_gap_ms", gap)
    check(gap >= 1000, "waited %d ms for Retry-After: 1" % gap)
    sender.cancel()

    # A long pause ends early when the Wi-Fi comes back (new link generation).
    link = Link()
    dev, gw, _ = http_device(config(), capture=Capture(), link=link)
    t0 = ticks_ms()
    pause = asyncio.create_task(dev.sender.pause(5000))
    await asyncio.sleep_ms(100)
    link.generation += 1
    await pause
    waited = ticks_diff(ticks_ms(), t0)
    figure("pause_cut_ms", waited)
    check(waited < 1000, "pause cut short after reconnection (%d ms)" % waited)
