"""The pipeline: durable spool in front, batcher behind, the sink at the end.

A transport hands over validated readings; ``submit`` returns once they are in the spool (that is when a 202
or an MQTT ack may go out). A batcher per spool reads them back in order, writes batches to the sink, retries
failures with exponential backoff and jitter while the spool grows up to its quota, and only then confirms them.
Each process claims one spool slot (a directory with a lock file); slots left behind by processes that are gone
are adopted and drained, so nothing accepted is ever stranded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from gateway.ingest import metrics
from gateway.ingest.spool import TAIL_BYTES, Position, Spool, SpoolFull
from gateway.storage.base import PermanentWriteError, Reading, Sink

log = logging.getLogger(__name__)

__all__ = ["PermanentWriteError", "Pipeline", "SpoolFull"]

Listener = Callable[[Sequence[Reading]], None]
SHUTDOWN_GRACE_S = 10.0
CLOSING_POLL_S = 0.01
MAX_LAG_BYTES = TAIL_BYTES // 2  # spooled but not yet read by the batcher: past this, keep_pace waits


def _transient(exc: BaseException) -> bool:
    """Retry ordinary failures; never a refusal for good, and never swallow cancellation."""
    return isinstance(exc, Exception) and not isinstance(exc, PermanentWriteError)


def to_payload(readings: Sequence[Reading]) -> dict[str, Any]:
    first = readings[0]
    return {"d": first.device_id, "g": dict(first.tags), "r": [[r.ts_ms, r.values] for r in readings]}


def from_payload(payload: dict[str, Any]) -> list[Reading]:
    device_id, tags = payload["d"], payload["g"]
    return [Reading(device_id, ts, values, tags) for ts, values in payload["r"]]


class Pipeline:
    def __init__(
        self,
        sink: Sink,
        root: Path,
        *,
        batch_size: int,
        batch_interval_s: float,
        quota_bytes: int,
        segment_bytes: int,
        max_backoff_s: float,
    ) -> None:
        self.sink = sink
        self.root = root
        self.batch_size = batch_size
        self.batch_interval_s = batch_interval_s
        self.quota_bytes = quota_bytes
        self.segment_bytes = segment_bytes
        self.max_backoff_s = max_backoff_s
        # Called with readings once the sink stored them (cache invalidation, then live views): what a viewer is
        # shown live is already queryable, so a page rendered after an event always includes it.
        self.listeners: list[Listener] = []
        self.spool: Spool | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = asyncio.Event()
        self._deadline = float("inf")
        self.sink_healthy = True
        self._reader: Position | None = None  # how far the live batcher has read
        self._progress = asyncio.Event()  # set when the live batcher wrote a batch, or the sink failed

    # lifecycle ---------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        slot = 0
        while True:
            spool = self._spool(self.root / f"slot-{slot}")
            if spool.try_lock():
                break
            slot += 1
        spool.open_for_append()
        self.spool = spool
        self._tasks.append(asyncio.create_task(self._drain(spool, live=True), name=f"batcher-{slot}"))
        for directory in sorted(self.root.glob("slot-*")):
            if directory == spool.directory:
                continue
            orphan = self._spool(directory)
            if orphan.try_lock():
                log.info("adopting spool %s left by a stopped process", directory.name)
                self._tasks.append(asyncio.create_task(self._drain(orphan, live=False), name=f"adopt-{directory.name}"))

    def _spool(self, directory: Path) -> Spool:
        return Spool(directory, segment_bytes=self.segment_bytes, quota_bytes=self.quota_bytes)

    async def close(self) -> None:
        """Stop taking readings, let the batchers flush what the sink will take, keep the rest spooled."""
        self._deadline = time.monotonic() + SHUTDOWN_GRACE_S
        self._closing.set()
        self._progress.set()
        if self.spool is not None:
            self.spool.appended.set()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("batcher stopped with an error", exc_info=result)
        if self.spool is not None:
            await self.spool.close()

    # write side --------------------------------------------------------------------------------------------
    async def submit(self, *groups: Sequence[Reading]) -> None:
        """Durably accept groups of readings, each of one device, all or none; raise SpoolFull when the quota is
        reached."""
        groups = tuple(group for group in groups if group)
        if not groups:
            return
        if self.spool is None or self._closing.is_set():
            raise SpoolFull("the gateway is shutting down")
        await self.spool.append(*((to_payload(group), group) for group in groups))

    async def keep_pace(self) -> None:
        """Wait while the live batcher is far behind what was spooled and the sink is healthy.

        For a transport that can leave messages with someone else (the MQTT broker keeps them): it slows to the
        store's pace instead of spooling ahead of it, so readings flow through the spool's memory tail rather than
        back from disk. When the sink fails the spool takes everything, as it should.
        """
        while (
            self.sink_healthy
            and not self._closing.is_set()
            and self.spool is not None
            and self._reader is not None
            and self.spool.backlog(self._reader) > MAX_LAG_BYTES
        ):
            self._progress.clear()
            await self._progress.wait()

    def _notify(self, readings: Sequence[Reading]) -> None:
        for listener in self.listeners:
            try:
                listener(readings)
            except Exception:
                log.exception("reading listener failed")

    def retry_after_s(self) -> int:
        return max(1, int(self.max_backoff_s // 2))

    # read side ---------------------------------------------------------------------------------------------
    async def _drain(self, spool: Spool, *, live: bool) -> None:
        slot = spool.directory.name
        position = spool.checkpoint
        batch: list[Reading] = []
        batch_end = position
        first_at = 0.0
        while True:
            spool.appended.clear()
            records, next_position = await self._read(spool, position, live)
            if records:
                if not batch:
                    first_at = time.monotonic()
                for end, readings in records:
                    batch.extend(readings)
                    batch_end = end
                metrics.SPOOL_DEPTH.labels(slot).set(len(batch))
            idle = not records and next_position == position  # moving past a segment's end is progress
            position = next_position
            if live:
                self._reader = position
            full = len(batch) >= self.batch_size
            due = batch and (time.monotonic() - first_at >= self.batch_interval_s)
            closing = self._closing.is_set()
            if batch and (full or due or (idle and (closing or not live))):
                if not await self._write(batch):
                    return  # shutting down with the sink away: the rest stays spooled
                spool.confirmed(batch_end)
                self._progress.set()
                metrics.SPOOL_BYTES.labels(slot).set(spool.unconfirmed)
                batch = []
                metrics.SPOOL_DEPTH.labels(slot).set(0)
                continue
            if idle:
                if not live:
                    self._retire(spool)
                    return
                if closing and (position >= spool.end or time.monotonic() > self._deadline):
                    return  # everything committed is written (a commit may still be landing: then wait for it)
                wait = self.batch_interval_s - (time.monotonic() - first_at) if batch else None
                wait = min(wait or CLOSING_POLL_S, CLOSING_POLL_S) if closing else wait
                try:
                    await asyncio.wait_for(spool.appended.wait(), timeout=wait)
                except TimeoutError:
                    pass
            elif not full:
                # More may be on its way: give the batch up to its interval to fill.
                remaining = self.batch_interval_s - (time.monotonic() - first_at)
                if remaining > 0 and not closing:
                    try:
                        await asyncio.wait_for(spool.appended.wait(), timeout=remaining)
                    except TimeoutError:
                        pass

    @staticmethod
    async def _read(spool: Spool, position: Position, live: bool) -> tuple[list[tuple[Position, Sequence[Reading]]], Position]:
        """The next records as (end, readings): from the spool's memory tail when it follows on, else from disk
        (up to where the tail begins, which only holds committed records)."""
        if live and (tail := spool.take_tail(position)) is not None:
            return tail, tail[-1][0] if tail else position
        limit = (spool.tail_start or spool.end) if live else None
        records, next_position = await asyncio.to_thread(spool.read_from, position, limit)
        return [(end, from_payload(payload)) for end, payload in records], next_position

    def _retire(self, spool: Spool) -> None:
        """An adopted spool is empty: remove it so the slot can be claimed fresh."""
        for path in spool.directory.iterdir():
            if path.name != "lock":
                path.unlink(missing_ok=True)
        spool.unlock()
        log.info("adopted spool %s drained", spool.directory.name)

    async def _write(self, batch: list[Reading]) -> bool:
        """Write in sink-sized chunks; True when all are stored (or dead-lettered), False when giving up to close."""
        for start in range(0, len(batch), self.batch_size):
            if not await self._write_chunk(batch[start : start + self.batch_size]):
                log.warning("sink still failing at shutdown; %d readings stay spooled for replay", len(batch))
                return False
        return True

    async def _write_chunk(self, chunk: Sequence[Reading]) -> bool:
        """Retry transient failures. A chunk refused for good is halved until the refused readings are alone (the
        store may have kept the rest of a partial write: writing it again overwrites), and those are set aside."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(_transient),
            wait=wait_exponential_jitter(multiplier=0.05, max=self.max_backoff_s, jitter=0.05),
            stop=self._stop_when_closing,
            before_sleep=self._on_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    began = time.perf_counter()
                    await self.sink.write(chunk)
                    metrics.SINK_LATENCY.observe(time.perf_counter() - began)
        except PermanentWriteError as exc:
            if len(chunk) == 1:
                self._dead_letter(chunk, str(exc))
                return True
            half = len(chunk) // 2
            return await self._write_chunk(chunk[:half]) and await self._write_chunk(chunk[half:])
        except Exception:
            return False
        metrics.SINK_BATCHES.labels("ok").inc()
        metrics.READINGS_WRITTEN.inc(len(chunk))
        metrics.SINK_LAST_WRITE.set_to_current_time()
        self.sink_healthy = True
        self._notify(chunk)
        return True

    def _stop_when_closing(self, _: RetryCallState) -> bool:
        return self._closing.is_set() and time.monotonic() >= self._deadline

    def _on_retry(self, state: RetryCallState) -> None:
        self.sink_healthy = False
        self._progress.set()
        metrics.SINK_RETRIES.inc()
        metrics.SINK_BATCHES.labels("retry").inc()
        exc = state.outcome.exception() if state.outcome else None
        log.warning("sink write failed (attempt %d), retrying: %s", state.attempt_number, exc)

    def _dead_letter(self, batch: Sequence[Reading], reason: str) -> None:
        """Keep what the sink refused for good beside the spool, with the reason; never drop it silently."""
        metrics.SINK_BATCHES.labels("dead_letter").inc()
        log.error("sink refused %d readings for good (%s); kept in dead-letter.jsonl", len(batch), reason)
        with open(self.root / "dead-letter.jsonl", "ab") as f:
            for r in batch:
                f.write(
                    orjson.dumps({"reason": reason, "device_id": r.device_id, "ts": r.ts_ms, "values": r.values})
                    + b"\n"
                )
