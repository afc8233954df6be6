# One device: samples its sensors on a schedule, queues the readings and delivers them. Everything it
# talks to is injected (transport, sensors, spool, clock, link, watchdog), so the same object runs on
# a board (board.build), under the tests' fakes, and in the fleet simulator on CPython.
import asyncio

from .ack import Stats
from .backoff import Backoff
from .log import Log
from .rt import sleep_ms, ticks_add, ticks_diff, ticks_ms
from .sender import Sender
from .sendqueue import SendQueue
from .watchdog import Watchdog
from .wifi import AlwaysUp


class Device:
    def __init__(self, cfg: dict, transport, sensors: list, spool, clock, link=None, wdt=None, log=None,
                 stats=None, rand=None) -> None:
        self.cfg = cfg
        self.log = log or Log(cfg["device_id"], cfg["log_level"])
        self.stats = stats or Stats()
        self.transport = transport
        self.sensors = sensors
        self.clock = clock
        self.link = link or AlwaysUp()
        self.queue = SendQueue(spool, cfg["batch_bytes"], cfg["batch_size"], int(cfg["batch_max_age_s"] * 1000),
                               self.stats, self.log)
        backoff = Backoff(cfg["backoff_base_ms"], cfg["backoff_max_ms"], rand=rand)
        self.sender = Sender(self.queue, transport, self.link, backoff, self.stats, self.log)
        self.watchdog = Watchdog(wdt, cfg["wdt_timeout_ms"], self.log)
        self.interval_ms = int(cfg["sample_interval_s"] * 1000)
        self.values = {}
        self.last_ts = 0
        self.failure = ""
        self._stop = asyncio.Event()
        self._tasks = []

    async def sample(self) -> bool:
        """One round over every sensor, queued as one reading."""
        if not self.clock.synced:
            return False
        ts = self.clock.now_ms()
        if ts <= self.last_ts:  # two rounds in one millisecond (catching up): the gateway keys on ts
            ts = self.last_ts + 1
        self.last_ts = ts
        values = self.values
        values.clear()
        for sensor in self.sensors:
            try:
                await sensor.read(values)
            except Exception as e:  # noqa: BLE001 - one failing part must not stop the rest
                self.stats.sensor_errors += 1
                self.log.warning("sensor %s: %r", sensor.name, e)
        return self.queue.add(ts, values) if values else False

    async def _sampler(self) -> None:
        while not self.clock.synced:
            await sleep_ms(200)
        self.log.info("sampling every %d ms", self.interval_ms)
        due = ticks_ms()
        while True:
            await self.sample()
            due = ticks_add(due, self.interval_ms)
            wait = ticks_diff(due, ticks_ms())
            if wait < 0:  # fell behind (slow sensors): start the schedule again from now
                due = ticks_ms()
                wait = 0
            await sleep_ms(wait)

    async def _guard(self, name: str, coro) -> None:
        try:
            await coro
        except Exception as e:  # noqa: BLE001 - report, stop feeding the watchdog, stop the device
            self.failure = name
            self.log.error("task %s crashed: %r", name, e)
            self.watchdog.fail("task %s crashed" % name)
            self._stop.set()

    async def run(self) -> None:
        """Run until stop() or a crashed task; readings still in RAM are saved to flash on the way out."""
        self.queue.spool.open()
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(self._guard("wifi", self.link.run())),
            asyncio.create_task(self._guard("clock", self.clock.run(self.link))),
            asyncio.create_task(self._guard("sampler", self._sampler())),
            asyncio.create_task(self._guard("sender", self.sender.run())),
            asyncio.create_task(self._guard("watchdog", self.watchdog.run())),
        ]
        try:
            await self._stop.wait()
        finally:
            await self._end_tasks()
            self.queue.save()
            await self.transport.close()

    async def _end_tasks(self) -> None:
        """Cancel the tasks and wait until each has ended, so none runs on after save(): a task can miss a
        cancellation (a wait_for whose result arrives at that moment returns it), so it is cancelled again."""
        tasks = self._tasks
        self._tasks = []
        for _ in range(100):
            pending = [task for task in tasks if not task.done()]
            if not pending:
                return
            for task in pending:
                task.cancel()
            await sleep_ms(10)
        self.log.error("a task did not stop")

    def stop(self) -> None:
        self._stop.set()
