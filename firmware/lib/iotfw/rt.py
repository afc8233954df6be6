# Runtime helpers: the same names on MicroPython and on CPython (the fleet simulator and the end-to-end
# tests import the firmware there). MicroPython has ticks_ms()/sleep_ms(); CPython gets equivalents.
import asyncio
import gc
import sys
import time


def _ticks_ms() -> int:
    return int(getattr(time, "monotonic")() * 1000)


def _ticks_add(ticks: int, delta: int) -> int:
    return ticks + delta


def _ticks_diff(new: int, old: int) -> int:
    return new - old


async def _sleep_ms(ms: int) -> None:
    await asyncio.sleep(ms / 1000)


async def _wait_for_ms(awaitable, ms: int):
    return await asyncio.wait_for(awaitable, ms / 1000)


ticks_ms = getattr(time, "ticks_ms", None) or _ticks_ms
ticks_add = getattr(time, "ticks_add", None) or _ticks_add
ticks_diff = getattr(time, "ticks_diff", None) or _ticks_diff
sleep_ms = getattr(asyncio, "sleep_ms", None) or _sleep_ms
wait_for_ms = getattr(asyncio, "wait_for_ms", None) or _wait_for_ms


def _no_collect() -> None:
    """CPython's collector needs no help, and a full collection of its large heap takes tens of ms."""


# After each batch the sender collects, so the board's small heap does not fragment (MicroPython only).
collect = gc.collect if sys.implementation.name == "micropython" else _no_collect


def elapsed_ms(since: int) -> int:
    return ticks_diff(ticks_ms(), since)


async def wait_event(event: asyncio.Event, timeout_ms: int) -> bool:
    """Wait for an event at most timeout_ms; True if it was set."""
    if event.is_set():
        return True
    try:
        await wait_for_ms(event.wait(), timeout_ms)
    except asyncio.TimeoutError:
        return False
    return True
