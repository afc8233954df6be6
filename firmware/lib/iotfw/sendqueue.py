# The send queue: readings are appended to the "filling" batch; a batch is due when it holds
# batch_size readings or its oldest reading is batch_max_age old. The sender takes the oldest data
# first: spool segments in flash, then RAM. A full batch the sender cannot take (gateway or Wi-Fi away,
# or a send in flight) spills to flash, so RAM use stays fixed: two batch buffers.
import asyncio

from .batch import Batch, encode
from .rt import elapsed_ms


class SendQueue:
    def __init__(self, spool, batch_bytes: int, batch_size: int, max_age_ms: int, stats, log) -> None:
        self.spool = spool
        self.stats = stats
        self.log = log
        self.max_age_ms = max_age_ms
        self.filling = Batch(batch_bytes, batch_size)
        self.sending = Batch(batch_bytes, batch_size)
        self.from_spool = False
        self.changed = asyncio.Event()

    def add(self, ts: int, values: dict) -> bool:
        rec = encode(ts, values)
        if not rec:
            return False
        if len(rec) + 2 > len(self.filling.buf):
            self.log.warning("reading too large for a batch, dropped: %s", rec)
            self.stats.dropped += 1
            return False
        if not self.filling.fits(rec):
            self.spill()
        self.filling.add(rec)
        self.stats.readings += 1
        if self.filling.full():
            self.changed.set()
        return True

    def spill(self) -> None:
        """Move the filling batch to flash."""
        b = self.filling
        if b.count == 0:
            return
        if self.spool.push(b):
            self.stats.spilled += b.count
        else:
            self.stats.dropped += b.count
            self.log.error("flash spool unavailable: %d readings dropped", b.count)
        b.clear()

    def _filling_due(self) -> bool:
        b = self.filling
        return b.full() or (b.count > 0 and elapsed_ms(b.started) >= self.max_age_ms)

    def due(self) -> bool:
        return len(self.spool) > 0 or self._filling_due()

    def wait_hint_ms(self) -> int:
        """How long until the filling batch ages out (for the sender's sleep)."""
        b = self.filling
        if b.count == 0:
            return self.max_age_ms
        return max(0, self.max_age_ms - elapsed_ms(b.started))

    def take(self):
        """The oldest due batch (now in self.sending), or None."""
        if len(self.spool) > 0 and self.spool.load_oldest(self.sending):
            self.from_spool = True
            return self.sending
        if self._filling_due():
            self.filling, self.sending = self.sending, self.filling
            self.filling.clear()
            self.from_spool = False
            return self.sending
        return None

    def done(self) -> None:
        """The batch in flight was delivered (or dropped as invalid)."""
        if self.from_spool:
            self.spool.pop_oldest()
        self.sending.clear()

    def failed(self, pos: int) -> None:
        """Delivery stopped at boundary pos: keep the rest, at the head of the queue."""
        b = self.sending
        if pos > 0:
            b.drop_front(pos)
        if self.from_spool:
            if pos > 0:
                self.spool.replace_oldest(b)
        elif b.count:
            if self.spool.push(b, True):
                self.stats.spilled += b.count
            else:
                self.stats.dropped += b.count
                self.log.error("flash spool unavailable: %d readings dropped", b.count)
        b.clear()

    def save(self) -> None:
        """Before a stop: the batch in flight (if from RAM) and the filling batch go to flash."""
        if not self.from_spool and self.sending.count:
            self.spool.push(self.sending, True)
        self.sending.clear()
        self.from_spool = False
        self.spill()

    def pending_ram(self) -> int:
        return self.filling.count + (0 if self.from_spool else self.sending.count)
