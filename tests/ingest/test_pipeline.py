"""The pipeline's own logic (spool, batching, retries, replay, quota) with an in-memory sink.

The same guarantees against real InfluxDB and a killed gateway process are proven in test_http_faults.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from gateway.ingest import metrics
from gateway.ingest import pipeline as pipeline_module
from gateway.ingest import spool as spool_module
from gateway.ingest.pipeline import PermanentWriteError, Pipeline, SpoolFull, to_payload
from gateway.ingest.spool import Spool, encode
from gateway.storage.base import Reading


class MemorySink:
    def __init__(self, failures: int = 0, permanent: bool = False) -> None:
        self.points: list[tuple[str, int, dict[str, object]]] = []
        self.failures = failures
        self.permanent = permanent
        self.calls = 0
        self.blocked = asyncio.Event()
        self.blocked.set()

    async def write(self, batch: Sequence[Reading]) -> None:
        self.calls += 1
        await self.blocked.wait()
        if self.permanent:
            raise PermanentWriteError("field type conflict")
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("sink down")
        self.points.extend((r.device_id, r.ts_ms, dict(r.values)) for r in batch)

    async def close(self) -> None:
        pass


def make(sink: MemorySink, root: Path, **kw: object) -> Pipeline:
    opts: dict[str, object] = {
        "batch_size": 50,
        "batch_interval_s": 0.02,
        "quota_bytes": 10 << 20,
        "segment_bytes": 4096,
        "max_backoff_s": 0.05,
    }
    opts.update(kw)
    return Pipeline(sink, root, **opts)  # type: ignore[arg-type]


def readings(device: str, start: int, n: int) -> list[Reading]:
    return [Reading(device, start + i, {"v": float(start + i)}) for i in range(n)]


async def wait_until(predicate: Callable[[], bool], within_s: float = 5.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_everything_submitted_reaches_the_sink_once_in_order(tmp_path: Path) -> None:
    sink = MemorySink()
    pipeline = make(sink, tmp_path)
    await pipeline.start()
    await asyncio.gather(*(pipeline.submit(readings(f"d{d}", d * 1000, 37)) for d in range(20)))
    await wait_until(lambda: len(sink.points) == 20 * 37)
    await pipeline.close()
    assert len({(dev, ts) for dev, ts, _ in sink.points}) == 740  # none twice
    for d in range(20):
        mine = [ts for dev, ts, _ in sink.points if dev == f"d{d}"]
        assert mine == sorted(mine)
    # Confirmed segments are gone: only the live one (possibly empty) may remain.
    assert len(list((tmp_path / "slot-0").glob("*.seg"))) <= 1


async def test_failing_sink_is_retried_without_loss(tmp_path: Path) -> None:
    sink = MemorySink(failures=4)
    pipeline = make(sink, tmp_path)
    metrics.SINK_LAST_WRITE.set(0.0)

    def last_write() -> float | None:
        return REGISTRY.get_sample_value("gateway_sink_last_write_timestamp_seconds")

    await pipeline.start()
    for i in range(10):
        await pipeline.submit(readings("d", i * 10, 10))
    await wait_until(lambda: sink.calls >= 3)
    assert last_write() == 0.0  # nothing stored yet: an alert on a stale store would fire
    await wait_until(lambda: len(sink.points) == 100)
    await pipeline.close()
    assert sink.calls >= 5
    assert sorted(ts for _, ts, _ in sink.points) == list(range(100))
    assert abs((last_write() or 0.0) - time.time()) < 5


async def test_replay_after_an_unclean_stop(tmp_path: Path) -> None:
    sink = MemorySink()
    sink.blocked.clear()  # the sink hangs: nothing gets confirmed
    first = make(sink, tmp_path)
    await first.start()
    for i in range(30):
        await first.submit(readings("d", i * 5, 5))
    # Die without flushing: stop the tasks and drop the lock as the kernel would for a killed process.
    for task in first._tasks:
        task.cancel()
    await asyncio.gather(*first._tasks, return_exceptions=True)
    assert first.spool is not None
    first.spool.unlock()

    replay_sink = MemorySink()
    second = make(replay_sink, tmp_path)
    await second.start()
    await wait_until(lambda: len(replay_sink.points) == 150)
    await second.close()
    assert sorted(ts for _, ts, _ in replay_sink.points) == list(range(150))


async def test_torn_record_at_the_tail_is_ignored_on_replay(tmp_path: Path) -> None:
    spool_dir = tmp_path / "slot-0"
    spool_dir.mkdir(parents=True)
    good = encode(to_payload(readings("d", 0, 3)))
    torn = encode(to_payload(readings("d", 3, 3)))[:-5]
    (spool_dir / "000000000001.seg").write_bytes(good + torn)
    sink = MemorySink()
    pipeline = make(sink, tmp_path)
    await pipeline.start()
    await wait_until(lambda: len(sink.points) == 3)
    await pipeline.submit(readings("d", 100, 2))
    await wait_until(lambda: len(sink.points) == 5)
    await pipeline.close()
    assert [ts for _, ts, _ in sink.points] == [0, 1, 2, 100, 101]


async def test_a_reader_that_keeps_up_takes_readings_from_memory(tmp_path: Path) -> None:
    sink = MemorySink()
    seen: list[Reading] = []
    pipeline = make(sink, tmp_path)
    pipeline.listeners.append(seen.extend)
    await pipeline.start()
    await pipeline.submit(readings("d", 0, 5))  # the first may race the reader's first look at the file
    await wait_until(lambda: len(seen) == 5)
    sent = readings("d", 10, 30)
    await pipeline.submit(sent)
    await wait_until(lambda: len(seen) == 35)
    await pipeline.close()
    assert all(a is b for a, b in zip(seen[5:], sent, strict=True))  # the very objects: no file read, no decoding


async def test_a_reader_that_fell_behind_reads_the_file_then_memory_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_module, "TAIL_BYTES", 1500)  # the memory tail overflows and restarts many times
    sink = MemorySink()
    sink.blocked.clear()
    pipeline = make(sink, tmp_path)
    await pipeline.start()
    for i in range(100):
        await pipeline.submit(readings(f"d{i % 7}", i * 10, 10))
    sink.blocked.set()
    await wait_until(lambda: len(sink.points) == 1000)
    await pipeline.submit(readings("late", 0, 5))  # and it follows the tail again afterwards
    await wait_until(lambda: len(sink.points) == 1005)
    await pipeline.close()
    assert len({(dev, ts) for dev, ts, _ in sink.points}) == 1005  # every one, once
    assert [ts for dev, ts, _ in sink.points if dev != "late"] == list(range(1000))  # in order


async def test_quota_pushes_back_instead_of_dropping(tmp_path: Path) -> None:
    sink = MemorySink()
    sink.blocked.clear()
    pipeline = make(sink, tmp_path, quota_bytes=20_000)
    await pipeline.start()
    accepted = 0
    with pytest.raises(SpoolFull):
        for i in range(1000):
            await pipeline.submit(readings("d", i * 10, 10))
            accepted += 10
    assert 0 < accepted < 10_000
    sink.blocked.set()
    await wait_until(lambda: len(sink.points) == accepted)
    # Space is freed once the sink confirms: submissions are accepted again.
    await pipeline.submit(readings("d", 1_000_000, 1))
    await wait_until(lambda: len(sink.points) == accepted + 1)
    await pipeline.close()


async def test_groups_are_spooled_all_or_none_and_an_empty_spool_takes_any(tmp_path: Path) -> None:
    """Several devices' groups go in one commit or not at all; a submission larger than the whole quota is taken
    when the spool is empty, so a big MQTT batch can never wait forever."""
    sink = MemorySink()
    sink.blocked.clear()
    pipeline = make(sink, tmp_path, quota_bytes=2_000)
    await pipeline.start()
    await pipeline.submit(readings("a", 0, 80), readings("b", 0, 80))  # 2.6 KB: over the quota, spool empty
    with pytest.raises(SpoolFull):
        await pipeline.submit(readings("c", 0, 1), readings("d", 0, 60))
    sink.blocked.set()
    await wait_until(lambda: len(sink.points) == 160)
    await pipeline.submit(readings("c", 0, 1), readings("d", 0, 60))
    await wait_until(lambda: len(sink.points) == 221)
    assert {device for device, _, _ in sink.points} == {"a", "b", "c", "d"}
    await pipeline.close()


async def test_permanently_refused_batch_goes_to_dead_letter(tmp_path: Path) -> None:
    sink = MemorySink(permanent=True)
    pipeline = make(sink, tmp_path)
    await pipeline.start()
    await pipeline.submit(readings("d", 0, 4))
    dead = tmp_path / "dead-letter.jsonl"
    await wait_until(lambda: dead.exists() and len(dead.read_text().splitlines()) == 4)
    sink.permanent = False
    await pipeline.submit(readings("d", 10, 1))
    await wait_until(lambda: len(sink.points) == 1)
    await pipeline.close()
    assert "field type conflict" in dead.read_text()


async def test_orphaned_slot_is_adopted_and_drained(tmp_path: Path) -> None:
    orphan = Spool(tmp_path / "slot-3", segment_bytes=4096, quota_bytes=1 << 20)
    (orphan.directory / "000000000001.seg").write_bytes(
        b"".join(encode(to_payload(readings("o", i * 4, 4))) for i in range(5))
    )
    sink = MemorySink()
    pipeline = make(sink, tmp_path)
    await pipeline.start()
    await wait_until(lambda: len(sink.points) == 20)
    await pipeline.close()
    assert not list(orphan.directory.glob("*.seg"))
    assert sorted(ts for _, ts, _ in sink.points) == list(range(20))


async def test_shutdown_flushes_pending_batch(tmp_path: Path) -> None:
    sink = MemorySink()
    pipeline = make(sink, tmp_path, batch_interval_s=30.0, batch_size=10_000)
    await pipeline.start()
    await pipeline.submit(readings("d", 0, 7))
    await pipeline.close()
    assert len(sink.points) == 7


async def test_keep_pace_waits_for_a_slow_sink_but_not_for_a_failing_one(tmp_path: Path, monkeypatch) -> None:
    """A transport that can leave messages with its broker waits while the batcher is far behind a healthy sink,
    and is let go as soon as the sink catches up; while the sink fails, the spool takes everything at once."""
    monkeypatch.setattr(pipeline_module, "MAX_LAG_BYTES", 500)
    sink = MemorySink()
    sink.blocked.clear()  # the sink takes its time: the batcher is stuck in its first write
    pipeline = make(sink, tmp_path, batch_size=10)
    await pipeline.start()
    await pipeline.submit(readings("d", 0, 10))
    await wait_until(lambda: sink.calls == 1)
    for i in range(1, 6):
        await pipeline.submit(readings("d", i * 10, 10))  # ~1.5 KB behind the batcher
    waiting = asyncio.create_task(pipeline.keep_pace())
    await asyncio.sleep(0.2)
    assert not waiting.done()
    sink.blocked.set()
    await asyncio.wait_for(waiting, 5)
    await wait_until(lambda: len(sink.points) == 60)

    sink.failures, sink.calls = 1_000, 0
    await pipeline.submit(readings("d", 100, 10))
    await wait_until(lambda: sink.calls >= 2)  # it failed, and is being retried
    for i in range(11, 20):
        await pipeline.submit(readings("d", i * 10, 10))
    await asyncio.wait_for(pipeline.keep_pace(), 1)  # the sink is down: no waiting
    sink.failures = 0
    await wait_until(lambda: len(sink.points) == 160)
    await pipeline.close()
