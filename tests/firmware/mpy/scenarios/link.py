# The Wi-Fi link and the watchdog: the device joins, notices a loss, keeps sampling into flash while
# down, rejoins with backoff, then drains; the watchdog is fed while every task is healthy and stops
# being fed when one crashes.
import asyncio

from iotfw.backoff import Backoff
from iotfw.log import Log
from iotfw.wifi import Wifi

from fakes import FakeWdt, FakeWlan
from harness import Capture, check, config, figure, http_device, until


async def main():
    cap = Capture()
    log = Log("dev-1", "info", cap)
    wlan = FakeWlan(join_ms=30)
    wifi = Wifi(wlan, "lab", "pw", Backoff(20, 80), log, connect_timeout_ms=200, poll_ms=10, watch_ms=20)
    wdt = FakeWdt()
    cfg = config(batch_size=5, sample_interval_s=0.02, backoff_base_ms=20, backoff_max_ms=60, wdt_timeout_ms=400)
    dev, gw, _ = http_device(cfg, capture=cap, link=wifi, wdt=wdt)
    task = asyncio.create_task(dev.run())
    check(await until(lambda: wifi.is_up(), 1000), "joined")
    check(await until(lambda: gw.model.accepted >= 10, 2000), "readings flow")
    # The access point disappears for a while.
    wlan.lose()
    check(await until(lambda: not wifi.is_up(), 500), "loss noticed")
    before = gw.model.accepted
    await asyncio.sleep_ms(600)
    joins_while_down = wlan.joins
    check(gw.model.accepted <= before + 5, "nothing sent while down")
    check(len(dev.queue.spool) >= 2, "readings spilled to flash while down")
    check(joins_while_down >= 3, "rejoin attempts with backoff (%d)" % joins_while_down)
    wlan.in_range = True
    check(await until(lambda: wifi.is_up(), 1000), "rejoined")
    check(await until(lambda: len(dev.queue.spool) == 0, 2000), "flash drained after the rejoin")
    check(cap.count("wifi: down") == 1 and cap.count("wifi: up") == 2, "up/down logged")
    feeds = wdt.feeds
    check(feeds >= 5, "watchdog fed while healthy (%d)" % feeds)

    # A task crashes: the device stops and the watchdog is no longer fed (the board would reset).
    def boom(*args):
        raise RuntimeError("sensor bus wedged")

    dev.queue.add = boom
    await until(lambda: dev.failure != "", 1000)
    await task
    fed = wdt.feeds
    await asyncio.sleep_ms(300)
    check(
        dev.failure == "sampler" and cap.count("task sampler crashed: RuntimeError") == 1,
        "crash reported: %r %s" % (dev.failure, cap.lines[-3:]),
    )
    check(wdt.feeds == fed and not dev.watchdog.healthy, "watchdog starved after the crash")
    figure("received", len(gw.model.received))
    received = gw.model.received
    check(received == sorted(received) and len(set(received)) == len(received), "in order, no duplicates")
    # Readings still in RAM at the stop were saved to flash.
    figure("saved_segments", len(dev.queue.spool))
