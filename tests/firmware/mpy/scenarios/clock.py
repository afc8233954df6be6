# The clock: the port's epoch found with time.gmtime(0) (2000 on older ESP32 ports, 1970 elsewhere),
# SNTP over a non-blocking socket, Unix epoch milliseconds, the RTC set, the RTC trusted after a soft
# reset when it holds a plausible date, bad replies ignored.
import asyncio
import time

from iotfw.clock import Y2K_S, Clock, epoch_offset
from iotfw.log import Log

from fakes import FakeRtc, FakeUdp
from harness import Capture, check, figure

UNIX_MS = 1767225600250  # 2026-01-01T00:00:00.250Z


class Link:
    def __init__(self):
        self.up = asyncio.Event()
        self.up.set()


async def main():
    check(epoch_offset(lambda s: (2000, 1, 1, 0, 0, 0, 5, 1)) == Y2K_S == 946684800, "2000 epoch")
    check(epoch_offset(lambda s: (1970, 1, 1, 0, 0, 0, 3, 1)) == 0, "1970 epoch")
    figure("this_port_epoch_year", time.gmtime(0)[0])

    cap = Capture()
    rtc = FakeRtc()
    clock = Clock(Log("t", "info", cap), "ntp.test", 3600, None, rtc)
    udp = FakeUdp(UNIX_MS, after=3)
    clock.udp = lambda host: (udp, ("10.0.0.2", 123))
    check(not clock.synced, "not synced before NTP")
    check(await clock.sync(), "synced")
    now = clock.now_ms()
    figure("ntp_error_ms", now - UNIX_MS)
    check(abs(now - UNIX_MS) < 200, "now_ms is Unix ms: %d" % now)
    check(udp.sent[0][0][0] == 0x1B and len(udp.sent[0][0]) == 48 and udp.sent[0][1][1] == 123, "SNTP request")
    check(udp.polls >= 3 and udp.closed, "polled without blocking, socket closed")
    check(rtc.value[:3] == (2026, 1, 1) and rtc.value[4:7] == (0, 0, 0), "RTC set: %s" % (rtc.value,))
    await asyncio.sleep_ms(100)
    check(90 <= clock.now_ms() - now <= 200, "time advances with ticks")

    # A 2000-epoch port: time.time() counts from 2000, readings still carry Unix time.
    clock2 = Clock(Log("t", "info", cap), "", 3600)
    clock2.offset_s = Y2K_S
    clock2.set_unix_ms(UNIX_MS, False)
    check(abs(clock2.now_ms() - UNIX_MS) < 50, "Unix ms on a 2000-epoch port")

    # Replies that are not a server's (wrong mode) or a kiss-o'-death are ignored; silence times out.
    for bad in (FakeUdp(UNIX_MS, after=1, mode=3),):
        c = Clock(Log("t", "info", cap), "ntp.test")
        c.udp = lambda host, u=bad: (u, ("10.0.0.2", 123))
        check(not await c.sync() and not c.synced, "bad reply ignored")
    silent = FakeUdp(UNIX_MS, after=10**9)
    c = Clock(Log("t", "info", cap), "ntp.test")
    c.udp = lambda host: (silent, ("10.0.0.2", 123))
    t0 = time.ticks_ms()
    unix = await c.query(timeout_ms=200)
    check(unix is None and 190 <= time.ticks_diff(time.ticks_ms(), t0) < 600, "query times out")

    # The RTC still holds a real date after a soft reset: trusted at once (this interpreter's clock is real).
    c = Clock(Log("t", "info", cap), "")
    check(c.from_rtc() and c.synced, "plausible RTC used")
    check(abs(c.now_ms() - int(time.time() * 1000)) < 2000, "RTC time in Unix ms")
    c.run_task = asyncio.create_task(c.run(Link()))
    await asyncio.sleep_ms(10)
    check(c.run_task.done(), "without an NTP host the clock task ends after the RTC check")
