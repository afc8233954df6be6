# ticks_ms() and sleep_ms() for the test helpers on both interpreters, independent of the firmware
# (so the firmware's own heap can be measured apart from the helpers').
import asyncio
import time

if hasattr(time, "ticks_ms"):
    ticks_ms = time.ticks_ms
    ticks_add = time.ticks_add
    ticks_diff = time.ticks_diff
    sleep_ms = asyncio.sleep_ms
else:

    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_add(a, b):
        return a + b

    def ticks_diff(a, b):
        return a - b

    async def sleep_ms(ms):
        await asyncio.sleep(ms / 1000)
