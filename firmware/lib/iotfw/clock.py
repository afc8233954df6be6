# Wall-clock time for the readings: SNTP over a non-blocking UDP socket, kept as an offset on
# ticks_ms(), and written to the RTC. The port's epoch is found with time.gmtime(0): 2000-01-01 on
# ESP32 builds up to at least 1.24, 1970-01-01 on others; readings always carry Unix epoch milliseconds.
import struct
import time

from .backoff import Backoff
from .rt import sleep_ms, ticks_diff, ticks_ms

NTP_TO_UNIX_S = 2208988800  # 1900-01-01 .. 1970-01-01
Y2K_S = 946684800  # 1970-01-01 .. 2000-01-01
PLAUSIBLE_UNIX_S = 1704067200  # 2024-01-01: an RTC earlier than this was never set


def epoch_offset(gmtime=time.gmtime) -> int:
    """Seconds to add to this port's time.time() to get Unix time."""
    return Y2K_S if gmtime(0)[0] == 2000 else 0


def udp_socket(host: str):
    """A non-blocking UDP socket and the NTP server's address (getaddrinfo blocks: called once)."""
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    return s, socket.getaddrinfo(host, 123)[0][-1]


class Clock:
    def __init__(self, log, ntp_host: str = "pool.ntp.org", resync_s: int = 3600, backoff=None,
                 rtc=None) -> None:
        self.log = log
        self.ntp_host = ntp_host
        self.resync_ms = int(resync_s * 1000)
        self.backoff = backoff or Backoff(2000, 300000)
        self.rtc = rtc
        self.udp = udp_socket  # replaceable (tests)
        self.offset_s = epoch_offset()
        self.synced = False
        self._base_ms = 0
        self._base_ticks = 0
        self._buf = bytearray(48)

    def now_ms(self) -> int:
        """Unix epoch milliseconds."""
        return self._base_ms + ticks_diff(ticks_ms(), self._base_ticks)

    def set_unix_ms(self, unix_ms: int, write_rtc: bool = True) -> None:
        self._base_ticks = ticks_ms()
        self._base_ms = unix_ms
        self.synced = True
        if write_rtc and self.rtc is not None:
            t = time.gmtime(unix_ms // 1000 - self.offset_s)
            # RTC.datetime: (year, month, day, weekday, hours, minutes, seconds, subseconds); the ESP32 port
            # takes the subseconds in microseconds. Kept to the millisecond: see from_rtc.
            self.rtc.datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], unix_ms % 1000 * 1000))

    def from_rtc(self) -> bool:
        """Use the RTC if it still holds a real date (a soft reset keeps it): readings start at once.
        Read to the millisecond: a clock truncated to the second runs up to 1 s behind, and after a quick
        reset it would stamp new readings with the timestamps of the last ones before it (the gateway keys
        on the timestamp: they would overwrite those readings)."""
        unix_ms = (int(time.time()) + self.offset_s) * 1000
        if unix_ms < PLAUSIBLE_UNIX_S * 1000:
            return False
        time_ns = getattr(time, "time_ns", None)
        if time_ns is not None:
            precise = time_ns() // 1000000 + self.offset_s * 1000
            if 0 <= precise - unix_ms < 2000:  # the same epoch as time.time() (checked, not assumed)
                unix_ms = precise
        self.set_unix_ms(unix_ms, False)
        return True

    async def query(self, timeout_ms: int = 2000):
        """One SNTP exchange: Unix ms, or None."""
        buf = self._buf
        for i in range(48):
            buf[i] = 0
        buf[0] = 0x1B  # version 3, mode 3 (client)
        s, addr = self.udp(self.ntp_host)
        read = getattr(s, "readinto", None) or getattr(s, "recv_into")  # MicroPython / CPython
        try:
            t0 = ticks_ms()
            s.sendto(buf, addr)
            while ticks_diff(ticks_ms(), t0) < timeout_ms:
                try:
                    n = read(buf)
                except OSError:  # EAGAIN: nothing yet
                    n = 0
                if n:
                    if n < 48 or buf[0] & 7 != 4 or buf[1] == 0:
                        return None  # not a server's reply, or a kiss-o'-death
                    secs, frac = struct.unpack_from("!II", buf, 40)
                    return (secs - NTP_TO_UNIX_S) * 1000 + (frac * 1000 >> 32) + ticks_diff(ticks_ms(), t0) // 2
                await sleep_ms(20)
            return None
        finally:
            s.close()

    async def sync(self) -> bool:
        try:
            unix_ms = await self.query()
        except OSError as e:
            unix_ms = None
            self.log.warning("ntp: %s", e)
        if unix_ms is None or unix_ms < PLAUSIBLE_UNIX_S * 1000:
            self.log.warning("ntp: no answer from %s", self.ntp_host)
            return False
        if not self.synced:
            self.log.info("ntp: clock set")
        self.set_unix_ms(unix_ms)
        return True

    async def run(self, link) -> None:
        if self.from_rtc():
            self.log.info("clock: RTC already set")
        if not self.ntp_host:
            return  # no NTP: the host's own clock is trusted (CPython)
        while True:
            await link.up.wait()
            if await self.sync():
                self.backoff.reset()
                await sleep_ms(self.resync_ms)
            else:
                await sleep_ms(self.backoff.next_ms())
