# Fakes for the hardware and the network, written in MicroPython, for the firmware's tests under the
# real interpreter (which has no machine, network or socket module): a fake TCP stream, the gateway
# over HTTP and over MQTT (both driven by gateway_model), a Wi-Fi interface, an NTP server, an I2C bus.
import asyncio
import gc
import json
import struct

from gateway_model import GatewayModel
from ticks import sleep_ms, ticks_add, ticks_diff, ticks_ms


class Probe:
    """Samples gc.mem_alloc() at every fake I/O operation while enabled: the peak heap of a send."""

    def __init__(self) -> None:
        self.enabled = False
        self.peak = 0

    def sample(self) -> None:
        if self.enabled:
            m = gc.mem_alloc()
            if m > self.peak:
                self.peak = m


PROBE = Probe()


class Conn:
    """Both ends a client sees of one fake TCP connection: a StreamReader and a StreamWriter."""

    def __init__(self, server) -> None:
        self.server = server
        self.rx = bytearray()
        self.eof = False
        self.ev = asyncio.Event()
        # What the client sent goes to the server's fixed buffer (one connection at a time), so no
        # growing copies blur the heap figures.
        self.inbuf = server.inbuf
        self.inmv = server.inmv
        self.inlen = 0
        self.closed = False

    def received(self, buf) -> None:
        n = len(buf)
        self.inmv[self.inlen : self.inlen + n] = buf
        self.inlen += n

    def consume(self, n: int) -> None:
        rest = self.inlen - n
        if rest > 0:
            self.inmv[0:rest] = self.inmv[n : self.inlen]
        self.inlen = rest

    # server side
    def feed(self, data) -> None:
        self.rx.extend(data)
        self.ev.set()

    def end(self) -> None:
        self.eof = True
        self.ev.set()

    # StreamReader
    async def _need(self, n: int) -> None:
        while len(self.rx) < n and not self.eof:
            self.ev.clear()
            await self.ev.wait()

    def _take(self, n: int) -> bytes:
        out = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return out

    async def readexactly(self, n: int) -> bytes:
        PROBE.sample()
        await self._need(n)
        if len(self.rx) < n:
            raise EOFError
        return self._take(n)

    async def read(self, n: int = -1) -> bytes:
        PROBE.sample()
        await self._need(1)
        return self._take(len(self.rx) if n < 0 else min(n, len(self.rx)))

    async def readline(self) -> bytes:
        PROBE.sample()
        while True:
            i = self.rx.find(b"\n")
            if i >= 0:
                return self._take(i + 1)
            if self.eof:
                return self._take(len(self.rx))
            self.ev.clear()
            await self.ev.wait()

    # StreamWriter
    def write(self, buf) -> None:
        PROBE.sample()
        if self.closed:
            raise OSError(104)  # ECONNRESET
        self.server.on_data(self, buf)

    async def drain(self) -> None:
        PROBE.sample()
        await sleep_ms(0)

    def close(self) -> None:
        pass

    async def wait_closed(self) -> None:
        self.closed = True


class Net:
    """The network between the device and one server: up, down (refused) or hanging."""

    def __init__(self) -> None:
        self.down = False
        self.hang = False
        self.connects = 0
        self.refused = 0
        self.inbuf = bytearray(8192)
        self.inmv = memoryview(self.inbuf)

    async def connect(self, host: str, port: int, tls: bool):
        PROBE.sample()
        self.connects += 1
        if self.hang:
            await asyncio.Event().wait()
        if self.down:
            self.refused += 1
            raise OSError(113)  # EHOSTUNREACH
        conn = Conn(self)
        return conn, conn

    def on_data(self, conn, buf) -> None:
        raise NotImplementedError


class HttpGateway(Net):
    def __init__(self, model=None, delay_ms: int = 0) -> None:
        super().__init__()
        self.model = model or GatewayModel()
        self.delay_ms = delay_ms
        self.times = []  # ticks of each readings request

    def on_data(self, conn, buf) -> None:
        conn.received(buf)
        data = conn.inbuf
        end = data.find(b"\r\n\r\n", 0, conn.inlen)
        if end < 0:
            return
        headers = {}
        lines = bytes(conn.inmv[:end]).decode().split("\r\n")
        method, path = lines[0].split(" ")[0:2]
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0"))
        if conn.inlen < end + 4 + length:
            return
        body = bytes(conn.inmv[end + 4 : end + 4 + length])
        conn.consume(end + 4 + length)
        if path == "/api/v1/readings":
            self.times.append(ticks_ms())
        asyncio.create_task(self._respond(conn, method, path, headers, body))

    async def _respond(self, conn, method, path, headers, body) -> None:
        if self.delay_ms:
            await sleep_ms(self.delay_ms)
        status, extra, out = self.model.handle(method, path, headers, body)
        head = "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (status, len(out))
        for h in extra:
            head += h + "\r\n"
        conn.feed(head.encode() + b"\r\n" + out)
        conn.end()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | 128 if n else b)
        if not n:
            return bytes(out)


def _publish(topic: str, payload: bytes) -> bytes:
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t + payload
    return b"\x30" + _varint(len(body)) + body


class MqttBroker(Net):
    """A broker with the gateway's MQTT consumer behind it."""

    def __init__(self, model=None, logins=None) -> None:
        super().__init__()
        self.model = model or GatewayModel()
        self.logins = logins if logins is not None else dict(self.model.devices)
        self.published = 0
        self.puback = True
        self.connacks = []
        self.subscribed = {}  # conn -> topic

    def on_data(self, conn, buf) -> None:
        conn.received(buf)
        while True:
            data = conn.inbuf
            if conn.inlen < 2:
                return
            n = 0
            shift = 0
            i = 1
            while True:
                if i >= conn.inlen:
                    return
                b = data[i]
                n |= (b & 127) << shift
                i += 1
                if not b & 128:
                    break
                shift += 7
            if conn.inlen < i + n:
                return
            kind = data[0]
            body = bytes(conn.inmv[i : i + n])
            conn.consume(i + n)
            self._packet(conn, kind, body)

    def _packet(self, conn, kind: int, body: bytes) -> None:
        t = kind & 0xF0
        if t == 0x10:  # CONNECT
            pos = 10
            fields = []
            while pos < len(body):
                ln = (body[pos] << 8) | body[pos + 1]
                fields.append(body[pos + 2 : pos + 2 + ln].decode())
                pos += 2 + ln
            user, password = (fields + ["", "", ""])[1:3]
            rc = 0 if self.logins.get(user) == password else 5
            self.connacks.append(rc)
            conn.device = user
            conn.feed(bytes([0x20, 2, 0, rc]))
            if rc:
                conn.end()
        elif t == 0x80:  # SUBSCRIBE
            ln = (body[2] << 8) | body[3]
            self.subscribed[id(conn)] = body[4 : 4 + ln].decode()
            conn.feed(b"\x90\x03" + body[0:2] + b"\x01")
        elif t == 0x30:  # PUBLISH
            tl = (body[0] << 8) | body[1]
            topic = body[2 : 2 + tl].decode()
            pos = 2 + tl
            if kind & 0x06:
                if self.puback:
                    conn.feed(b"\x40\x02" + body[pos : pos + 2])
                pos += 2
            self.published += 1
            device = topic.split("/")[1]
            ackdoc = self.model.handle_mqtt(device, memoryview(body)[pos:])
            if ackdoc and self.subscribed.get(id(conn)) == "devices/%s/acks" % device:
                conn.feed(_publish("devices/%s/acks" % device, json.dumps(ackdoc).encode()))
        elif t == 0xC0:  # PINGREQ
            conn.feed(b"\xd0\x00")
        elif t == 0xE0:  # DISCONNECT
            conn.end()


class FakeWlan:
    """network.WLAN(STA_IF): joins join_ms after connect() while the access point is in range."""

    def __init__(self, join_ms: int = 30) -> None:
        self.join_ms = join_ms
        self.in_range = True
        self.joins = 0
        self._joined_at = -1
        self._on = False

    def active(self, on=None):
        if on is not None:
            self._on = on
        return self._on

    def connect(self, ssid: str, password: str) -> None:
        self.joins += 1
        self._joined_at = ticks_add(ticks_ms(), self.join_ms) if self.in_range else -1

    def disconnect(self) -> None:
        self._joined_at = -1

    def isconnected(self) -> bool:
        return self.in_range and self._joined_at >= 0 and ticks_diff(ticks_ms(), self._joined_at) >= 0

    def lose(self) -> None:
        self.in_range = False
        self._joined_at = -1


class FakeUdp:
    """A non-blocking UDP socket with an NTP server behind it, answering after `after` polls."""

    NTP_DELTA = 2208988800

    def __init__(self, unix_ms: int, after: int = 2, mode: int = 4) -> None:
        self.unix_ms = unix_ms
        self.after = after
        self.mode = mode
        self.sent = []
        self.polls = 0
        self.closed = False

    def sendto(self, buf, addr) -> None:
        self.sent.append((bytes(buf), addr))

    def readinto(self, buf):
        self.polls += 1
        if self.polls < self.after:
            raise OSError(11)  # EAGAIN
        secs = self.unix_ms // 1000 + self.NTP_DELTA
        frac = (self.unix_ms % 1000) * (1 << 32) // 1000
        for i in range(48):
            buf[i] = 0
        buf[0] = 0x20 | self.mode  # version 4
        buf[1] = 2  # stratum
        struct.pack_into("!II", buf, 40, secs, frac)
        return 48

    def close(self) -> None:
        self.closed = True


class FakeRtc:
    def __init__(self) -> None:
        self.value = None

    def datetime(self, t=None):
        if t is not None:
            self.value = t
        return self.value


class FixedClock:
    """A clock that is already synchronised: Unix ms = start + elapsed ticks."""

    def __init__(self, start_ms: int = 1767225600000) -> None:  # 2026-01-01T00:00:00Z
        self.synced = True
        self._start = start_ms
        self._t0 = ticks_ms()

    def now_ms(self) -> int:
        return self._start + ticks_diff(ticks_ms(), self._t0)

    async def run(self, link) -> None:
        return


class FakeWdt:
    def __init__(self) -> None:
        self.feeds = 0

    def feed(self) -> None:
        self.feeds += 1
