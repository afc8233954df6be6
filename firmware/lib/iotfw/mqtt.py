# A minimal MQTT 3.1.1 client on asyncio streams: CONNECT, SUBSCRIBE, PUBLISH QoS 1 and its PUBACK,
# incoming PUBLISH (QoS 0/1). Every socket operation is an awaited stream call, so it never stalls the
# event loop (umqtt.simple blocks; mqtt_as would also take over the Wi-Fi link). No PINGREQ task: a
# connection idle for longer than the keepalive is replaced before the next publish, and a dead one
# shows as a missing PUBACK.
import asyncio

from .rt import ticks_diff, ticks_ms, wait_event, wait_for_ms


class MqttError(Exception):
    """CONNACK refused: rc 4 bad user name or password, 5 not authorized."""

    def __init__(self, rc: int) -> None:
        super().__init__(rc)
        self.rc = rc


def _field(s) -> bytes:
    if isinstance(s, str):
        s = s.encode()
    return len(s).to_bytes(2, "big") + s


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | 128 if n else b)
        if not n:
            return bytes(out)


class MqttClient:
    def __init__(self, host: str, port: int, client_id: str, user: str, password: str, connect,
                 log, keepalive_s: int = 60, max_packet: int = 4096, tls: bool = False) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.client_id = client_id
        self.user = user
        self.password = password
        self.keepalive_s = int(keepalive_s)
        self.max_packet = max_packet
        self.log = log
        self.on_message = None
        self.connected = False
        self._connect = connect
        self._r = None
        self._w = None
        self._pid = 0
        self._wait_pid = 0
        self._acked = asyncio.Event()  # PUBACK or SUBACK for _wait_pid (or the connection was lost)
        self._last_tx = 0
        self._reader = None

    def stale(self) -> bool:
        """Idle longer than the keepalive: the broker may have dropped us."""
        return ticks_diff(ticks_ms(), self._last_tx) > self.keepalive_s * 1000

    async def connect(self, timeout_ms: int) -> None:
        await self.close()
        r, w = await wait_for_ms(self._connect(self.host, self.port, self.tls), timeout_ms)
        self._r, self._w = r, w
        flags = 0x02 | (0x80 if self.user else 0) | (0x40 if self.password else 0)
        var = b"\x00\x04MQTT\x04" + bytes([flags]) + self.keepalive_s.to_bytes(2, "big")
        payload = _field(self.client_id)
        if self.user:
            payload += _field(self.user)
        if self.password:
            payload += _field(self.password)
        w.write(b"\x10" + _varint(len(var) + len(payload)) + var + payload)
        await w.drain()
        resp = await wait_for_ms(r.readexactly(4), timeout_ms)
        if resp[0] != 0x20:
            raise OSError("no CONNACK")
        if resp[3] != 0:
            raise MqttError(resp[3])
        self.connected = True
        self._last_tx = ticks_ms()
        self._reader = asyncio.create_task(self._read_loop(r, w))

    async def _send(self, head: bytes, parts: tuple, pid: int, timeout_ms: int, what: str) -> None:
        """Write one packet and wait for the broker's acknowledgement of pid."""
        w = self._w
        if w is None or not self.connected:
            raise OSError("not connected")
        self._wait_pid = pid
        self._acked.clear()
        w.write(head)
        for p in parts:
            w.write(p)
        await w.drain()
        self._last_tx = ticks_ms()
        if not await wait_event(self._acked, timeout_ms) or not self.connected:
            raise OSError("no " + what)

    def _next_pid(self) -> int:
        self._pid = self._pid % 65535 + 1
        return self._pid

    async def subscribe(self, topic: str, timeout_ms: int) -> None:
        pid = self._next_pid()
        t = _field(topic)
        head = b"\x82" + _varint(2 + len(t) + 1) + pid.to_bytes(2, "big") + t + b"\x01"
        await self._send(head, (), pid, timeout_ms, "SUBACK")

    async def publish(self, topic: bytes, parts: tuple, timeout_ms: int) -> None:
        """PUBLISH at QoS 1 and wait for the broker's PUBACK."""
        length = 2 + len(topic) + 2
        for p in parts:
            length += len(p)
        pid = self._next_pid()
        head = b"\x32" + _varint(length) + _field(topic) + pid.to_bytes(2, "big")
        await self._send(head, parts, pid, timeout_ms, "PUBACK")

    async def _read_loop(self, r, w) -> None:
        try:
            while True:
                kind = (await r.readexactly(1))[0]
                n = 0
                shift = 0
                while True:
                    b = (await r.readexactly(1))[0]
                    n |= (b & 127) << shift
                    shift += 7
                    if not b & 128:
                        break
                if n > self.max_packet:
                    raise ValueError("packet too large")
                data = await r.readexactly(n) if n else b""
                t = kind & 0xF0
                if t == 0x30:  # PUBLISH
                    tl = (data[0] << 8) | data[1]
                    pos = 2 + tl
                    if kind & 0x06:
                        w.write(b"\x40\x02" + data[pos : pos + 2])
                        pos += 2
                    if self.on_message is not None:
                        self.on_message(data[2 : 2 + tl], data[pos:])
                elif t == 0x40 or t == 0x90:  # PUBACK, SUBACK
                    if ((data[0] << 8) | data[1]) == self._wait_pid and not (t == 0x90 and data[2] & 0x80):
                        self._acked.set()
        except (OSError, EOFError, ValueError, IndexError) as e:
            if self.connected:
                self.log.warning("mqtt: connection lost (%r)", e)
        finally:
            self.connected = False
            self._acked.set()  # wake a waiter: it sees connected == False

    async def close(self) -> None:
        was = self.connected
        self.connected = False
        reader = self._reader
        self._reader = None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        w = self._w
        self._w = self._r = None
        if w is not None:
            try:
                if was:
                    w.write(b"\xe0\x00")  # DISCONNECT
                    await w.drain()
                w.close()
                await w.wait_closed()
            except Exception:  # noqa: BLE001 - a dead socket cannot be closed twice
                pass
