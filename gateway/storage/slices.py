"""Range reads in adaptive time slices: each store query covers about ``target`` rows whatever the data's density,
so neither the store nor the reader holds more than a slice, and progress is the share of the range done."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from gateway.storage.base import Reading, RowChunk

Fetch = Callable[[int, int], AsyncIterator[Reading]]
DEVICE_BATCH = 200  # device ids per store query


async def sliced(
    fetch: Fetch,
    start_ms: int,
    end_ms: int,
    *,
    chunk: int,
    every_ms: int | None = None,
    target: int = 50_000,
    first_span_ms: int = 3_600_000,
) -> AsyncIterator[RowChunk]:
    """The rows ``fetch(slice_start, slice_end)`` yields for consecutive slices of [start, end), in chunks."""
    step = every_ms or 1
    if start_ms % step:
        raise ValueError("start_ms must be a multiple of every_ms")
    total = max(end_ms - start_ms, 1)
    span = _whole(first_span_ms, step)
    rows: list[Reading] = []
    t = start_ms
    while t < end_ms:
        stop = min(t + span, end_ms)
        count = 0
        async for row in fetch(t, stop):
            rows.append(row)
            count += 1
            if len(rows) >= chunk:
                yield RowChunk(rows, (t - start_ms) / total)
                rows = []
        t = stop
        # Grow at most 4x at a time (over empty stretches), shrink at once to fit a dense one.
        span = _whole(span * 4 if count == 0 else min(span * 4, span * target // count), step)
    yield RowChunk(rows, 1.0)


def batches(ids: Sequence[str], size: int = DEVICE_BATCH) -> list[list[str]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def _whole(span: int, step: int) -> int:
    return max(step, span - span % step)
