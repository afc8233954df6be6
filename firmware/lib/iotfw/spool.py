# The offline buffer in flash: batches that could not be sent are written as segment files named by a
# sequence number ("10000042.seg", the bytes of a Batch) and delivered oldest first when the gateway is
# back. A segment is written to a ".tmp" file and renamed, so a reset never leaves half a segment.
# Bounded: past max_bytes the oldest segments are dropped, and that is logged.
import os

FIRST = 10000000


def _names(directory: str):
    ilistdir = getattr(os, "ilistdir", None)
    if ilistdir is not None:
        for entry in ilistdir(directory):
            yield entry[0]
    else:
        for name in os.listdir(directory):
            yield name


class Spool:
    def __init__(self, directory: str, max_bytes: int, log) -> None:
        self.dir = directory.rstrip("/") or "/"
        self.max_bytes = max_bytes
        self.log = log
        self.head = FIRST  # segments live in [head, tail)
        self.tail = FIRST
        self.bytes = 0
        self.dropped_bytes = 0

    def _path(self, seq: int) -> str:
        return "%s/%08d.seg" % (self.dir, seq)

    def open(self) -> "Spool":
        """Find the segments a previous run left (after a reset or a power cut)."""
        try:
            os.mkdir(self.dir)
        except OSError:
            pass
        lo = hi = -1
        total = 0
        for name in _names(self.dir):
            path = "%s/%s" % (self.dir, name)
            if name.endswith(".tmp"):
                os.remove(path)
            elif name.endswith(".seg"):
                seq = int(name[:-4])
                total += os.stat(path)[6]
                if lo < 0 or seq < lo:
                    lo = seq
                if seq > hi:
                    hi = seq
        if lo >= 0:
            self.head, self.tail, self.bytes = lo, hi + 1, total
            self.log.info("spool: %d segments (%d bytes) waiting in flash", self.tail - self.head, total)
        return self

    def __len__(self) -> int:
        return self.tail - self.head

    def _write(self, seq: int, batch, make_room: bool = True) -> bool:
        path = self._path(seq)
        tmp = path[:-4] + ".tmp"
        for _ in range(2):
            try:
                with open(tmp, "wb") as f:
                    f.write(batch.mv[0 : batch.n])
                try:
                    os.rename(tmp, path)
                except OSError:  # file systems that do not rename over a file
                    os.remove(path)
                    os.rename(tmp, path)
                return True
            except OSError as e:
                self.log.warning("spool: write failed (%s)", e)
                if not (make_room and self._drop_oldest()):
                    break
        return False

    def _make_room(self, n: int) -> None:
        while self.bytes + n > self.max_bytes and self._drop_oldest():
            pass

    def _drop_oldest(self) -> bool:
        if self.head >= self.tail:
            return False
        size = self._remove(self.head)
        self.head += 1
        self.dropped_bytes += size
        self.log.warning("spool full: dropped %d bytes of the oldest readings", size)
        return True

    def _remove(self, seq: int) -> int:
        path = self._path(seq)
        try:
            size = os.stat(path)[6]
            os.remove(path)
        except OSError:
            return 0
        self.bytes -= size
        return size

    def push(self, batch, front: bool = False) -> bool:
        """Store a batch as the newest segment, or at the head (front): a batch that was in flight is
        older than every segment."""
        if batch.n == 0:
            return True
        self._make_room(batch.n)
        seq = self.head - 1 if front else self.tail
        if not self._write(seq, batch):
            return False
        if front:
            self.head = seq
        else:
            self.tail = seq + 1
        self.bytes += batch.n
        return True

    def load_oldest(self, batch) -> bool:
        while self.head < self.tail:
            try:
                with open(self._path(self.head), "rb") as f:
                    batch.load(f)
                return True
            except OSError:
                self.head += 1  # a segment lost to a power cut between remove and rename
        self.head = self.tail = FIRST
        return False

    def pop_oldest(self) -> None:
        if self.head < self.tail:
            self._remove(self.head)
            self.head += 1
        if self.head >= self.tail:
            self.head = self.tail = FIRST

    def replace_oldest(self, batch) -> None:
        """The oldest segment was partly delivered: keep only what is left (batch)."""
        if batch.n == 0:
            self.pop_oldest()
            return
        try:
            old = os.stat(self._path(self.head))[6]
        except OSError:
            old = 0
        if self._write(self.head, batch, False):  # atomic: the old segment stays if this fails
            self.bytes += batch.n - old
