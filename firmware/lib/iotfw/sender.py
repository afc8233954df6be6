# The sender task: takes the oldest due batch, delivers it (splitting on 413, re-fetching the token on
# 401), and on a transient failure puts it back and waits: Retry-After, else exponential backoff with
# jitter, cut short when the Wi-Fi comes back up.
from . import ack
from .rt import collect, sleep_ms, wait_event


class Sender:
    def __init__(self, queue, transport, link, backoff, stats, log) -> None:
        self.queue = queue
        self.transport = transport
        self.link = link
        self.backoff = backoff
        self.stats = stats
        self.log = log

    async def run(self) -> None:
        q = self.queue
        while True:
            if not (self.link.is_up() and q.due()):
                q.changed.clear()
                await wait_event(q.changed, max(50, min(1000, q.wait_hint_ms())))
                continue
            await self.send_one()

    async def send_one(self) -> bool:
        """Deliver the oldest due batch; False (after waiting) if it must be retried later."""
        q = self.queue
        batch = q.take()
        if batch is None:
            return True
        pos = await self.deliver(batch, 0, batch.n)
        if pos < 0:
            q.done()
            self.backoff.reset()
            self.log.info("batch delivered: %d readings accepted so far, %d segments in flash",
                          self.stats.accepted, len(q.spool))
            collect()
            return True
        q.failed(pos)
        self.stats.retries += 1
        wait = max(self.transport.retry_after_ms, self.backoff.next_ms())
        self.log.info("batch kept for later (%d segments in flash); retry in %d ms", len(q.spool), wait)
        collect()
        await self.pause(wait)
        return False

    async def deliver(self, batch, start: int, end: int) -> int:
        """Send batch[start:end]: -1 when all of it was delivered or dropped, else the record boundary
        where the undelivered part begins."""
        outcome = await self.transport.send(batch, start, end)
        if outcome == ack.REAUTH:
            outcome = await self.transport.send(batch, start, end)
            if outcome == ack.REAUTH:
                outcome = ack.RETRY
        if outcome == ack.SPLIT:
            mid = batch.middle(start, end)
            if mid >= end:
                self.log.warning("reading too large for the gateway, dropped: %s", bytes(batch.payload(start, end)))
                self.stats.dropped += 1
                return -1
            pos = await self.deliver(batch, start, mid)
            if pos >= 0:
                return pos
            return await self.deliver(batch, mid, end)
        if outcome == ack.RETRY:
            return start
        return -1

    async def pause(self, ms: int) -> None:
        """Sleep ms, but stop early when the link goes down and comes back (a fresh start)."""
        gen = self.link.generation
        while ms > 0:
            step = min(ms, 250)
            await sleep_ms(step)
            ms -= step
            if self.link.generation != gen and self.link.is_up():
                self.backoff.reset()
                return
