"""A fleet of firmware devices in one event loop: each is the firmware's own ``Device`` from ``board.build()``, with
its sampler, batching, flash spool (a directory per device), retries and transport, talking to a real gateway.

The simulator adds only measurement: a thin wrapper between each device's sender and its transport times every send
(the ack latency) and counts failed attempts, and a log sink per device keeps its warnings. A run samples for the
given duration, then stops the sensors and lets every device drain what it holds (bounded by ``drain_timeout_s``),
so at the end each reading is accepted, rejected, dropped by the firmware, or still pending (reported).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gateway.simulate.firmware import Firmware
from gateway.simulate.register import Identity

TICK_S = 0.1
WARM_CONCURRENCY = 4
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Plan:
    gateway_url: str
    transport: str  # "http" or "mqtt"
    rate: float  # readings per second, per device
    duration_s: float
    spool_root: Path
    batch_size: int = 10
    batch_age_s: float = 1.0
    mqtt_host: str = ""
    mqtt_port: int = 1883
    drain_timeout_s: float = 30.0
    backoff_max_ms: int = 10_000
    log_level: str = "warning"


def firmware_config(fw: Firmware, plan: Plan, identity: Identity, seed: int) -> dict[str, Any]:
    """The device's config.json, checked by the firmware's own config module."""
    overrides = {
        "device_id": identity.device_id,
        "secret": identity.secret,
        "gateway_url": plan.gateway_url,
        "transport": plan.transport,
        "mqtt_host": plan.mqtt_host,
        "mqtt_port": plan.mqtt_port,
        "ntp_host": "",  # the host's clock is right; no NTP traffic
        "sample_interval_s": 1.0 / plan.rate,
        "batch_size": plan.batch_size,
        "batch_max_age_s": plan.batch_age_s,
        "batch_bytes": max(2048, 128 * plan.batch_size),
        "spool_dir": str(plan.spool_root / identity.device_id),
        "backoff_max_ms": plan.backoff_max_ms,
        "log_level": plan.log_level,
        "sensors": [{"type": "simulated", "seed": seed}],
    }
    cfg: dict[str, Any] = fw.config.loads(json.dumps(overrides))
    return cfg


class TimedTransport:
    """Between the firmware's sender and its transport: the time of every send that got an ack, failed attempts."""

    def __init__(self, inner: Any, ok: int, retry: int) -> None:
        self.inner = inner
        self._ok, self._retry = ok, retry
        self.attempts = 0
        self.errors = 0
        self.latencies_ms: list[float] = []

    @property
    def retry_after_ms(self) -> int:
        return int(self.inner.retry_after_ms)

    async def send(self, batch: Any, start: int, end: int) -> int:
        began = time.perf_counter()
        outcome = int(await self.inner.send(batch, start, end))
        self.attempts += 1
        if outcome == self._ok:
            self.latencies_ms.append((time.perf_counter() - began) * 1000)
        elif outcome == self._retry:
            self.errors += 1
        return outcome

    async def close(self) -> None:
        await self.inner.close()


class LogSink:
    """A device's console: warnings and errors kept (the last few), a refused secret noticed."""

    def __init__(self, keep: int = 3) -> None:
        self.warnings = 0
        self.errors = 0
        self.secret_rejected = False
        self.recent: deque[str] = deque(maxlen=keep)

    def __call__(self, line: str) -> None:
        if line.startswith("ERROR"):
            self.errors += 1
        elif line.startswith("WARNING"):
            self.warnings += 1
        else:
            return
        self.recent.append(line)
        if "secret rejected" in line:
            self.secret_rejected = True


@dataclass
class Counts:
    sent: int = 0  # readings the device made and queued for delivery
    accepted: int = 0
    rejected: int = 0  # refused one by one in an ack
    dropped: int = 0  # given up by the firmware (a refused batch, a reading too large)
    pending: int = 0  # still in RAM or in the flash spool
    errors: int = 0  # failed delivery attempts (network, 5xx, 429, no MQTT ack), each retried later
    attempts: int = 0  # requests or messages sent, retries included

    def add(self, other: Counts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


class SimDevice:
    def __init__(self, fw: Firmware, plan: Plan, identity: Identity, seed: int) -> None:
        self.identity = identity
        self.sink = LogSink()
        cfg = firmware_config(fw, plan, identity, seed)
        self.spool_dir = Path(cfg["spool_dir"])
        self.device: Any = fw.board.build(cfg, fw.log.Log(identity.device_id, cfg["log_level"], self.sink))
        self.timed = TimedTransport(self.device.transport, fw.ack.OK, fw.ack.RETRY)
        self.device.sender.transport = self.timed
        self.started = False
        self.task: asyncio.Task[None] | None = None

    async def warm_up(self) -> None:
        """Fetch the device token before the clock starts (the firmware would do it on its first send)."""
        try:
            await self.device.transport.auth.token()
        except Exception:  # the firmware reports it (and retries) once it runs
            return

    def start(self, delay_s: float) -> None:
        self.task = asyncio.create_task(self._run(delay_s))

    async def _run(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)  # spread the fleet over one sampling interval
        self.started = True
        await self.device.run()

    def stop_sampling(self) -> None:
        """No more readings; what is queued becomes due at once."""
        queue = self.device.queue
        self.device.sensors = []
        queue.max_age_ms = 0
        queue.changed.set()

    @property
    def gave_up(self) -> bool:
        """Crashed, or waiting out a refused secret: it will not drain."""
        return bool(self.device.failure) or self.sink.secret_rejected or (self.task is not None and self.task.done())

    def drained(self) -> bool:
        queue = self.device.queue
        return int(queue.pending_ram()) == 0 and len(queue.spool) == 0

    async def stop(self) -> None:
        if self.task is None:
            return
        if self.started:
            self.device.stop()  # saves what is in RAM to the spool on the way out
        else:
            self.task.cancel()
        _, pending = await asyncio.wait({self.task}, timeout=STOP_TIMEOUT_S)
        for task in pending:
            task.cancel()

    def counts(self, final: bool = False) -> Counts:
        stats = self.device.stats
        c = Counts(
            sent=int(stats.readings),
            accepted=int(stats.accepted),
            rejected=int(stats.rejected),
            dropped=int(stats.dropped),
            errors=self.timed.errors,
            attempts=self.timed.attempts,
        )
        if final:  # after stop(): everything undelivered is in the spool, one line per reading
            c.pending = sum(p.read_bytes().count(b"\n") for p in self.spool_dir.glob("*.seg"))
        else:
            c.pending = max(0, c.sent - c.accepted - c.rejected - c.dropped)
        return c


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 < q <= 1) of values; 0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Summary:
    transport: str
    devices: int
    reused: int
    duration_s: float
    elapsed_s: float  # sampling plus draining
    totals: Counts
    readings_per_s: float
    p50_ms: float
    p99_ms: float
    secret_rejected: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    per_device: dict[str, Counts] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.totals.pending == 0 and not self.failed and not self.secret_rejected

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        totals = doc.pop("totals")
        return {**doc, **totals, "ok": self.ok}

    def text(self) -> str:
        t = self.totals
        lines = [
            f"simulated {self.devices} devices over {self.transport} for {self.duration_s:g} s "
            f"(done after {self.elapsed_s:.1f} s; {self.devices - self.reused} created, {self.reused} reused)",
            f"  sent      {t.sent} readings in {t.attempts} {'messages' if self.transport == 'mqtt' else 'requests'}",
            f"  accepted  {t.accepted}",
            f"  rejected  {t.rejected}",
            f"  errors    {t.errors} failed attempts (retried)",
            f"  dropped   {t.dropped}",
            f"  pending   {t.pending}{' (not delivered)' if t.pending else ''}",
            f"  rate      {self.readings_per_s:.1f} readings/s accepted",
            f"  ack latency  p50 {self.p50_ms:.1f} ms  p99 {self.p99_ms:.1f} ms",
        ]
        if self.secret_rejected:
            lines.append(f"  secret rejected: {', '.join(self.secret_rejected)}")
        if self.failed:
            lines.append(f"  crashed: {', '.join(self.failed)}")
        lines += [f"  ! {p}" for p in self.problems]
        return "\n".join(lines)


def progress_line(phase: str, elapsed_s: float, devices: list[SimDevice]) -> str:
    t = Counts()
    for d in devices:
        t.add(d.counts())
    running = sum(1 for d in devices if d.started and not d.gave_up)
    rate = t.accepted / elapsed_s if elapsed_s > 0 else 0.0
    return (
        f"{phase} {elapsed_s:5.1f}s | devices {running}/{len(devices)} | sent {t.sent} accepted {t.accepted} "
        f"rejected {t.rejected} errors {t.errors} | {rate:.0f} readings/s | buffered {t.pending}"
    )


async def run(
    fw: Firmware, plan: Plan, identities: list[Identity], show: Callable[[str], None] = lambda _: None
) -> Summary:
    """Build the fleet, run it for plan.duration_s, drain it, stop it; the summary."""
    fleet = [SimDevice(fw, plan, identity, seed) for seed, identity in enumerate(identities)]
    gate = asyncio.Semaphore(WARM_CONCURRENCY)

    async def warm(device: SimDevice) -> None:
        async with gate:
            await device.warm_up()

    await asyncio.gather(*(warm(d) for d in fleet))
    began = time.monotonic()
    interval = 1.0 / plan.rate
    for i, device in enumerate(fleet):
        device.start(interval * i / len(fleet))
    try:
        while (elapsed := time.monotonic() - began) < plan.duration_s:
            show(progress_line("sampling", elapsed, fleet))
            await asyncio.sleep(min(TICK_S, plan.duration_s - elapsed))
        for device in fleet:
            device.stop_sampling()
        drain_until = time.monotonic() + plan.drain_timeout_s
        while not all(d.drained() or d.gave_up for d in fleet) and time.monotonic() < drain_until:
            show(progress_line("draining", time.monotonic() - began, fleet))
            await asyncio.sleep(TICK_S)
        elapsed = time.monotonic() - began
    finally:
        await asyncio.gather(*(d.stop() for d in fleet))
    return summarize(plan, fleet, elapsed)


def summarize(plan: Plan, fleet: list[SimDevice], elapsed_s: float) -> Summary:
    totals = Counts()
    per_device: dict[str, Counts] = {}
    latencies: list[float] = []
    problems: list[str] = []
    for d in fleet:
        counts = d.counts(final=True)
        per_device[d.identity.device_id] = counts
        totals.add(counts)
        latencies += d.timed.latencies_ms
        problems += [p for p in d.sink.recent if p not in problems]
    return Summary(
        transport=plan.transport,
        devices=len(fleet),
        reused=sum(1 for d in fleet if d.identity.reused),
        duration_s=plan.duration_s,
        elapsed_s=round(elapsed_s, 3),
        totals=totals,
        readings_per_s=round(totals.accepted / elapsed_s, 2) if elapsed_s > 0 else 0.0,
        p50_ms=round(percentile(latencies, 0.50), 2),
        p99_ms=round(percentile(latencies, 0.99), 2),
        secret_rejected=[d.identity.device_id for d in fleet if d.sink.secret_rejected],
        failed=[d.identity.device_id for d in fleet if d.device.failure],
        problems=problems[:5],
        per_device=per_device,
    )
