# A batch of readings in one fixed, reused buffer. Each reading is stored as its JSON object followed by
# ",\n", so the readings document is  {"readings":[  + buf[start:end-2] +  ]}  with no copying, a batch
# splits at any newline (413 handling), and the same bytes go to flash as one spool segment.
from .rt import ticks_ms

SEP = b",\n"
INF = float("inf")


def encode(ts: int, values: dict) -> bytes:
    """One reading as compact JSON; non-finite values (a failed sensor's NaN) are left out."""
    parts = []
    for name in values:
        v = values[name]
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, float):
            if v != v or v == INF or v == -INF:
                continue
            parts.append('"%s":%.6g' % (name, v))
        else:
            parts.append('"%s":%d' % (name, v))
    if not parts:
        return b""
    return ('{"ts":%d,"values":{%s}}' % (ts, ",".join(parts))).encode()


class Batch:
    def __init__(self, capacity: int, max_count: int) -> None:
        self.buf = bytearray(capacity)
        self.mv = memoryview(self.buf)
        self.max_count = max_count
        self.n = 0
        self.count = 0
        self.started = 0
        self.last = 0  # length of the last reading added: "full" when another like it would not fit
        self._find = getattr(self.buf, "find", None)

    def clear(self) -> None:
        self.n = 0
        self.count = 0

    def full(self) -> bool:
        return self.count >= self.max_count or self.n + self.last + 2 > len(self.buf)

    def fits(self, rec: bytes) -> bool:
        return self.count < self.max_count and self.n + len(rec) + 2 <= len(self.buf)

    def add(self, rec: bytes) -> bool:
        if not self.fits(rec):
            return False
        if self.count == 0:
            self.started = ticks_ms()
        n = self.n
        end = n + len(rec)
        self.mv[n:end] = rec
        self.mv[end : end + 2] = SEP
        self.n = end + 2
        self.count += 1
        self.last = len(rec)
        return True

    def payload(self, start: int, end: int) -> memoryview:
        """The readings between two record boundaries, without the trailing separator."""
        return self.mv[start : end - 2]

    def find_nl(self, start: int, end: int) -> int:
        if self._find is not None:
            return self._find(b"\n", start, end)
        buf = self.buf
        for i in range(start, end):
            if buf[i] == 10:
                return i
        return -1

    def records(self, start: int, end: int) -> int:
        c = 0
        i = self.find_nl(start, end)
        while i >= 0:
            c += 1
            i = self.find_nl(i + 1, end)
        return c

    def middle(self, start: int, end: int) -> int:
        """A record boundary near the middle of [start, end); end if it holds one record."""
        i = self.find_nl(start + (end - start) // 2 - 1, end)
        if i + 1 >= end:
            i = self.find_nl(start, end)
        return i + 1

    def record(self, start: int, index: int) -> memoryview:
        """The index-th reading counted from the boundary start (for logging a rejected one)."""
        for _ in range(index):
            i = self.find_nl(start, self.n)
            if i < 0:
                return self.mv[0:0]
            start = i + 1
        i = self.find_nl(start, self.n)
        return self.mv[start : (i - 1 if i > 0 else start)]

    def drop_front(self, pos: int) -> None:
        """Forget the readings before boundary pos (they were delivered)."""
        rest = self.n - pos
        if rest > 0 and pos > 0:
            self.mv[0:rest] = self.mv[pos : self.n]
        self.n = max(rest, 0)
        self.count = self.records(0, self.n)

    def load(self, f) -> None:
        """Fill from a spool segment file."""
        self.n = f.readinto(self.buf) or 0
        self.count = self.records(0, self.n)
        self.started = ticks_ms()
