"""A durable, append-only spool of accepted readings: segment files of checksummed records.

Appends are group-committed: every record queued while the previous ``fsync`` ran is written and synced by the
next one, so one sync covers many requests. The reader follows the writer through the segments; whatever was
read and confirmed by the sink is recorded in a checkpoint and whole segments behind it are deleted. After a
crash the records past the checkpoint are read again (replay); a torn record at the tail of a segment, from a
write that never returned, is where that segment ends.

The reader of a live spool does not read back what this process just wrote: each append carries a ``memo`` (the
objects the payload was made from), kept in a bounded in-memory tail after its fsync, so the reader skips the
file read and the decoding. When the reader falls behind (the sink is down), the tail is cut and restarted: the
reader then reads the file up to where the tail begins.

Record: 4-byte big-endian length, 4-byte CRC32 of the payload, payload (orjson).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import orjson

_HEADER = struct.Struct(">II")
_READ_CHUNK = 4 << 20
TAIL_BYTES = 4 << 20  # record bytes kept in memory for the reader (the objects take a few times more)


class SpoolFull(Exception):
    """The spool holds its quota of unconfirmed data: the caller must push back, never drop."""


class Position(msgspec.Struct, frozen=True, order=True, gc=False):  # one per record: a struct is cheap to build
    segment: int
    offset: int


def _segment_name(number: int) -> str:
    return f"{number:012d}.seg"


def encode(payload: Any) -> bytes:
    body = orjson.dumps(payload)
    return _HEADER.pack(len(body), zlib.crc32(body)) + body


def decode_records(data: bytes) -> Iterator[tuple[int, Any]]:
    """Yield (end offset in data, payload) for each whole, intact record; stop at a torn or corrupt one."""
    pos = 0
    while pos + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + length
        if end > len(data):
            return
        body = data[pos + _HEADER.size : end]
        if zlib.crc32(body) != crc:
            return
        yield end, orjson.loads(body)
        pos = end


class Spool:
    """One spool directory, owned by one process at a time (an advisory lock file says which)."""

    def __init__(self, directory: Path, *, segment_bytes: int, quota_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.quota_bytes = quota_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd: int | None = None
        self._file: Any = None
        self._segment = 0
        self._offset = 0
        self._pending: list[tuple[bytes, Any, asyncio.Future[None]]] = []
        self._tail: list[tuple[Position, Any]] = []  # (end of record, memo), committed, not yet taken
        self._tail_start: Position | None = None  # where the first record of the tail begins
        self._tail_bytes = 0
        self._wakeup = asyncio.Event()
        self.appended = asyncio.Event()  # set after each commit; the reader waits on it
        self._committer: asyncio.Task[None] | None = None
        self._closed = False
        self._unconfirmed = 0
        self.checkpoint = self._load_checkpoint()

    # ownership -----------------------------------------------------------------------------------------
    def try_lock(self) -> bool:
        fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # sizes -------------------------------------------------------------------------------------------------
    def segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob("*.seg"))

    def unconfirmed_bytes(self) -> int:
        total = 0
        for number in self.segments():
            if number < self.checkpoint.segment:
                continue
            size = (self.directory / _segment_name(number)).stat().st_size
            total += size - (self.checkpoint.offset if number == self.checkpoint.segment else 0)
        return total + sum(len(r) for r, _, _ in self._pending)

    @property
    def unconfirmed(self) -> int:
        """Unconfirmed bytes as last counted (on open and at each confirmation) plus appends since."""
        return self._unconfirmed

    # writer side -------------------------------------------------------------------------------------------
    def open_for_append(self) -> None:
        """Start a fresh segment after whatever exists, so earlier (possibly torn) segments stay untouched."""
        existing = self.segments()
        self._segment = (existing[-1] + 1) if existing else max(1, self.checkpoint.segment)
        self._open_segment()
        self._committer = asyncio.get_running_loop().create_task(self._commit_loop(), name="spool-commit")
        self._unconfirmed = self.unconfirmed_bytes()

    def _open_segment(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = open(self.directory / _segment_name(self._segment), "ab", buffering=0)
        self._offset = self._file.tell()
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @property
    def end(self) -> Position:
        """Everything before this position is durable."""
        return Position(self._segment, self._offset)

    def backlog(self, position: Position) -> int:
        """Committed bytes after ``position`` (whole segments between count as full ones)."""
        end = self.end
        return end.offset - position.offset + (end.segment - position.segment) * self.segment_bytes

    async def append(self, *records: tuple[Any, Any]) -> None:
        """Append (payload, memo) records, all or none; return once they are on disk (fsync), or raise SpoolFull past
        the quota. The reader of this live spool gets each ``memo`` instead of the decoded payload."""
        if self._closed:
            raise SpoolFull("the spool is closing")
        encoded = [(encode(payload), memo) for payload, memo in records]
        size = sum(len(record) for record, _ in encoded)
        if self._unconfirmed and self._unconfirmed + size > self.quota_bytes:  # an empty spool takes any append
            raise SpoolFull(f"spool quota of {self.quota_bytes} bytes reached")
        self._unconfirmed += size
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.extend((record, memo, future) for record, memo in encoded)
        self._wakeup.set()
        await future

    def confirmed(self, position: Position) -> None:
        """The sink holds everything before ``position``: checkpoint it and drop whole segments behind it."""
        self.checkpoint = position
        tmp = self.directory / "checkpoint.tmp"
        tmp.write_text(f"{position.segment} {position.offset}")
        os.replace(tmp, self.directory / "checkpoint")
        for number in self.segments():
            if number < position.segment:
                (self.directory / _segment_name(number)).unlink(missing_ok=True)
        self._unconfirmed = self.unconfirmed_bytes()

    async def _commit_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if not batch:
                if self._closed:
                    return
                continue
            try:
                start = await asyncio.to_thread(self._write_sync, b"".join(r for r, _, _ in batch))
            except BaseException as exc:
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError("spool stopped"))
                if not isinstance(exc, Exception):
                    raise
                continue
            self._keep(start, batch)
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_result(None)
            self.appended.set()

    def _keep(self, start: Position, batch: list[tuple[bytes, Any, asyncio.Future[None]]]) -> None:
        """Put committed records in the tail. The tail restarts here when it is full or does not end where these
        begin (a new segment); the reader reads the file up to the tail's start."""
        size = sum(len(record) for record, _, _ in batch)
        tail_end = self._tail[-1][0] if self._tail else self._tail_start
        if tail_end != start or self._tail_bytes + size > TAIL_BYTES:
            self._tail, self._tail_start, self._tail_bytes = [], start, 0
        end = start.offset
        for record, memo, _ in batch:
            end += len(record)
            self._tail.append((Position(start.segment, end), memo))
        self._tail_bytes += size

    def take_tail(self, position: Position) -> list[tuple[Position, Any]] | None:
        """The committed records after ``position`` as (end, memo), from memory; None when the reader is behind the
        tail's start and must read the file up to there first. A reader that got some of these records from the
        file (it raced their commit) only gets the rest."""
        if self._tail_start is None or position < self._tail_start:
            return None
        taken = [item for item in self._tail if item[0] > position]
        self._tail, self._tail_bytes = [], 0
        self._tail_start = taken[-1][0] if taken else position
        return taken

    @property
    def tail_start(self) -> Position | None:
        return self._tail_start

    def _write_sync(self, data: bytes) -> Position:
        """Write and sync; returns where the data begins."""
        if self._offset >= self.segment_bytes:
            self._segment += 1
            self._open_segment()
        start = Position(self._segment, self._offset)
        self._file.write(data)
        os.fsync(self._file.fileno())
        self._offset += len(data)
        return start

    async def close(self) -> None:
        self._closed = True
        self._wakeup.set()
        if self._committer is not None:
            await self._committer
        if self._file is not None:
            self._file.close()
            self._file = None
        self.unlock()

    # reader side -------------------------------------------------------------------------------------------
    def _load_checkpoint(self) -> Position:
        try:
            segment, offset = (int(x) for x in (self.directory / "checkpoint").read_text().split())
            return Position(segment, offset)
        except (FileNotFoundError, ValueError):
            existing = self.segments()
            return Position(existing[0] if existing else 0, 0)

    def read_from(
        self, position: Position, limit: Position | None, max_bytes: int = _READ_CHUNK
    ) -> tuple[list[tuple[Position, Any]], Position]:
        """Records after ``position`` (each with the position just past it), up to ``limit`` when writing.

        Blocking (file I/O): call it in a thread. Returns the records and where the next read starts.
        """
        records: list[tuple[Position, Any]] = []
        for number in self.segments():
            if number < position.segment:
                continue
            if limit is not None and number > limit.segment:
                break
            start = position.offset if number == position.segment else 0
            stop = limit.offset if limit is not None and number == limit.segment else None
            with open(self.directory / _segment_name(number), "rb") as f:
                f.seek(start)
                size = max_bytes if stop is None else min(max_bytes, stop - start)
                data = f.read(size)
            for end, payload in decode_records(data):
                records.append((Position(number, start + end), payload))
            if records:
                return records, records[-1][0]
            if limit is not None and number == limit.segment:
                return records, Position(number, start)
            # Nothing whole left here: a finished (or torn) segment; go on with the next one.
            position = Position(number + 1, 0)
        return records, position
