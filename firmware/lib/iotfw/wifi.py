# The Wi-Fi link: connects the station interface, watches it, reconnects with backoff. Other tasks
# read is_up(), wait on the `up` event, and see a new `generation` after every reconnection.
import asyncio

from .rt import sleep_ms, ticks_diff, ticks_ms


class AlwaysUp:
    """The link when there is no Wi-Fi to manage (CPython, the simulator)."""

    def __init__(self) -> None:
        self.up = asyncio.Event()
        self.up.set()
        self.generation = 1

    def is_up(self) -> bool:
        return True

    async def run(self) -> None:
        return


class Wifi:
    def __init__(self, wlan, ssid: str, password: str, backoff, log, connect_timeout_ms: int = 20000,
                 poll_ms: int = 250, watch_ms: int = 1000) -> None:
        self.wlan = wlan
        self.ssid = ssid
        self.password = password
        self.backoff = backoff
        self.log = log
        self.connect_timeout_ms = connect_timeout_ms
        self.poll_ms = poll_ms
        self.watch_ms = watch_ms
        self.up = asyncio.Event()
        self.generation = 0

    def is_up(self) -> bool:
        return self.up.is_set()

    async def run(self) -> None:
        while True:
            if self.wlan.isconnected():
                if not self.up.is_set():
                    self.generation += 1
                    self.up.set()
                    self.backoff.reset()
                    self.log.info("wifi: up")
                await sleep_ms(self.watch_ms)
                continue
            if self.up.is_set():
                self.up.clear()
                self.log.warning("wifi: down")
            if not await self.connect():
                wait = self.backoff.next_ms()
                self.log.warning("wifi: cannot join %s, retry in %d ms", self.ssid, wait)
                await sleep_ms(wait)

    async def connect(self) -> bool:
        wlan = self.wlan
        wlan.active(True)
        try:
            wlan.disconnect()  # a connect() while the driver is still trying raises an error
        except OSError:
            pass
        try:
            wlan.connect(self.ssid, self.password)
        except OSError as e:
            self.log.warning("wifi: connect failed (%s)", e)
            return False
        t0 = ticks_ms()
        while ticks_diff(ticks_ms(), t0) < self.connect_timeout_ms:
            await sleep_ms(self.poll_ms)
            if wlan.isconnected():
                return True
        return False
