# The hardware watchdog: fed from its own task while every other task is healthy. A blocked event loop
# or a crashed task stops the feeding, and the board resets.
from .rt import sleep_ms


class Watchdog:
    def __init__(self, wdt, timeout_ms: int, log) -> None:
        self.wdt = wdt
        self.period_ms = max(100, timeout_ms // 4)
        self.log = log
        self.healthy = True
        self.feeds = 0

    def fail(self, why: str) -> None:
        if self.healthy:
            self.log.error("watchdog: %s; the board resets when the watchdog expires", why)
        self.healthy = False

    async def run(self) -> None:
        while self.healthy:
            if self.wdt is not None:
                self.wdt.feed()
            self.feeds += 1
            await sleep_ms(self.period_ms)
