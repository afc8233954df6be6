"""A lean MQTT 3.1.1 load generator: pre-encoded PUBLISH packets written in bulk on raw sockets.

paho's Python publishers cost tens of µs per message and capped the bench near 6,700 msg/s, below what it must
offer. Here every packet is encoded before the clock starts; sending is joining bytes and writing them, and a
QoS 1 acknowledgement is counted, not parsed: the broker sends a publisher nothing but its CONNACK and 4-byte
PUBACKs (keepalive off, so no PINGRESP; nothing subscribed). Each connection keeps at most ``window``
messages unacknowledged, like a device with a bounded in-flight queue.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Sequence

PUBACK_BYTES = 4
RECV_BYTES = 1 << 16
CONNECT_TIMEOUT_S = 10.0


def _packet(first: int, body: bytes) -> bytes:
    """Fixed header (type and flags, variable-length remaining length) plus body."""
    size, length = len(body), bytearray()
    while True:
        size, digit = divmod(size, 128)
        length.append(digit | (0x80 if size else 0))
        if not size:
            return bytes([first]) + bytes(length) + body


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def connect_packet(client_id: str) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session, keepalive 0."""
    return _packet(0x10, _string("MQTT") + b"\x04\x02\x00\x00" + _string(client_id))


def publish_packet(topic: str, payload: bytes, qos: int, mid: int) -> bytes:
    return _packet(0x30 | qos << 1, _string(topic) + (mid.to_bytes(2, "big") if qos else b"") + payload)


def encode(topic: str, payloads: Sequence[bytes], qos: int) -> list[bytes]:
    """One connection's packets; packet ids cycle through 1..65535 (the window keeps them unique in flight)."""
    return [publish_packet(topic, p, qos, n % 65535 + 1) for n, p in enumerate(payloads)]


class Connection:
    def __init__(self, host: str, port: int, client_id: str, packets: list[bytes], qos: int) -> None:
        self.packets, self.qos = packets, qos
        self.sent = self.acked_bytes = 0
        self.pending = b""  # written in part
        self.sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(client_id))
        connack = b""
        while len(connack) < 4:
            chunk = self.sock.recv(4 - len(connack))
            if not chunk:
                raise ConnectionError("the broker closed the connection before CONNACK")
            connack += chunk
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"connection refused: {connack!r}")
        self.sock.setblocking(False)

    @property
    def acked(self) -> int:
        return self.acked_bytes // PUBACK_BYTES if self.qos else self.sent - (1 if self.pending else 0)

    @property
    def done(self) -> bool:
        return self.acked >= len(self.packets)

    def close(self) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        except OSError:
            pass
        self.sock.close()


def run(connections: list[Connection], *, window: int, rate: float | None, deadline_s: float) -> tuple[float, float]:
    """Send every packet, at most ``rate`` messages/s in all, until all are acknowledged (QoS 1) or written.

    Returns (first write, last acknowledgement) as wall-clock times; raises TimeoutError past ``deadline_s``.
    """
    selector = selectors.DefaultSelector()
    for c in connections:
        selector.register(c.sock, selectors.EVENT_READ, c)
    began = time.time()
    stop_at = time.monotonic() + deadline_s
    sent_total, watching_write = 0, False
    while not all(c.done for c in connections):
        if time.monotonic() > stop_at:
            raise TimeoutError(f"{sum(c.acked for c in connections)} of {sum(len(c.packets) for c in connections)}")
        budget = int((time.time() - began) * rate) + 1 - sent_total if rate else 1 << 30
        writing = False
        for c in connections:
            if not c.pending and budget > 0:
                room = len(c.packets) - c.sent
                if c.qos:
                    room = min(room, window - (c.sent - c.acked))
                n = min(room, budget, window)
                if n > 0:
                    c.pending = b"".join(c.packets[c.sent : c.sent + n])
                    c.sent, sent_total, budget = c.sent + n, sent_total + n, budget - n
            if c.pending:
                try:
                    written = c.sock.send(c.pending)
                except BlockingIOError:
                    written = 0
                c.pending = c.pending[written:]
                writing = writing or bool(c.pending)
        if writing != watching_write:  # wake up when a full socket buffer drains, not only on PUBACKs
            for c in connections:
                selector.modify(c.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0), c)
            watching_write = writing
        waiting_for_acks = any(c.qos and c.acked < c.sent for c in connections)
        if not (writing or waiting_for_acks) and rate is None:
            continue
        for key, events in selector.select(timeout=0.002 if rate else 0.05):
            if events & selectors.EVENT_READ:
                c = key.data
                data = c.sock.recv(RECV_BYTES)
                if not data:
                    raise ConnectionError("the broker closed a publisher's connection")
                c.acked_bytes += len(data)
    selector.close()
    return began, time.time()
