# A minimal HTTP/1.1 client on asyncio streams, so no socket call ever stalls the event loop
# (micropython-lib's `requests` blocks in connect/send/recv). One request per connection
# ("Connection: close"); the body is written from the caller's buffers without joining them.
import asyncio

from .rt import wait_for_ms


class Response:
    __slots__ = ("status", "retry_after_s", "body")

    def __init__(self, status: int, retry_after_s: int, body: bytes) -> None:
        self.status = status
        self.retry_after_s = retry_after_s
        self.body = body


def parse_url(url: str) -> tuple:
    """http[s]://host[:port][/prefix] -> (tls, host, port, prefix)."""
    tls = url.startswith("https://")
    rest = url[8:] if tls else url[7:]
    i = rest.find("/")
    hostport = rest if i < 0 else rest[:i]
    prefix = "" if i < 0 else rest[i:].rstrip("/")
    port = 443 if tls else 80
    j = hostport.rfind(":")
    if j >= 0:
        port = int(hostport[j + 1 :])
        hostport = hostport[:j]
    return tls, hostport, port, prefix


async def open_tcp(host: str, port: int, tls: bool):
    if tls:
        return await asyncio.open_connection(host, port, ssl=True)  # type: ignore[call-arg]
    return await asyncio.open_connection(host, port)


class Connector:
    """Opens connections with the host name resolved once: getaddrinfo() blocks the event loop, so it
    runs again only after a failed connection. TLS connections keep the name (certificate, SNI)."""

    def __init__(self) -> None:
        self._ips = {}

    async def open(self, host: str, port: int, tls: bool):
        if tls:
            return await open_tcp(host, port, True)
        ip = self._ips.get(host)
        if ip is None:
            import socket

            ip = socket.getaddrinfo(host, port)[0][-1][0]
            self._ips[host] = ip
        try:
            return await open_tcp(ip, port, False)
        except OSError:
            self._ips.pop(host, None)
            raise


async def close_stream(writer) -> None:
    # On MicroPython close() is a no-op and wait_closed() closes the socket: always await it.
    try:
        writer.close()
        await writer.wait_closed()
    except Exception:  # noqa: BLE001 - a dead socket cannot be closed twice
        pass


class HttpClient:
    def __init__(self, url: str, connect=None, timeout_ms: int = 15000, max_body: int = 4096) -> None:
        self.tls, self.host, self.port, self.prefix = parse_url(url)
        self.timeout_ms = timeout_ms
        self.max_body = max_body
        self._connect = connect or open_tcp
        default = 443 if self.tls else 80
        self._host_header = self.host if self.port == default else "%s:%d" % (self.host, self.port)

    async def post(self, path: str, parts: tuple, token=None) -> Response:
        """POST a JSON body given as a tuple of buffers; raises OSError, EOFError, ValueError or
        asyncio.TimeoutError when the gateway cannot be reached or answers garbage."""
        return await wait_for_ms(self._post(path, parts, token), self.timeout_ms)

    async def _post(self, path: str, parts: tuple, token) -> Response:
        length = 0
        for p in parts:
            length += len(p)
        head = (
            "POST %s%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\nConnection: close\r\n%s\r\n"
            % (
                self.prefix,
                path,
                self._host_header,
                length,
                ("Authorization: Bearer %s\r\n" % token) if token else "",
            )
        ).encode()
        reader, writer = await self._connect(self.host, self.port, self.tls)
        try:
            writer.write(head)
            for p in parts:
                writer.write(p)
            await writer.drain()
            return await self._response(reader)
        finally:
            await close_stream(writer)

    async def _response(self, reader) -> Response:
        line = await reader.readline()
        if len(line) < 12 or line[:5] != b"HTTP/":
            raise ValueError("bad status line")
        status = int(line[9:12])
        length = -1
        chunked = False
        retry_after = 0
        while True:
            line = await reader.readline()
            if not line:
                raise EOFError
            if line == b"\r\n" or line == b"\n":
                break
            i = line.find(b":")
            if i < 0:
                continue
            name = line[:i].lower()
            if name == b"content-length":
                length = int(line[i + 1 :].strip())
            elif name == b"transfer-encoding":
                chunked = line[i + 1 :].strip().lower() == b"chunked"
            elif name == b"retry-after":
                try:
                    retry_after = int(line[i + 1 :].strip())
                except ValueError:  # an HTTP-date: fall back to our own backoff
                    retry_after = 0
        body = await self._body(reader, length, chunked)
        return Response(status, retry_after, body)

    async def _body(self, reader, length: int, chunked: bool) -> bytes:
        """The body, kept up to max_body bytes (a longer one is read and dropped)."""
        out = bytearray()
        limit = self.max_body
        if chunked:
            while True:
                size = int((await reader.readline()).split(b";")[0].strip(), 16)
                if size == 0:
                    return bytes(out)  # trailers, if any, go with the connection
                data = await reader.readexactly(size + 2)  # the chunk and its CRLF
                if len(out) + size <= limit:
                    out.extend(data[:size])
        while length != 0:  # -1: up to the end of the connection
            chunk = await reader.read(512 if length < 0 else min(512, length))
            if not chunk:
                break
            if len(out) + len(chunk) <= limit:
                out.extend(chunk)
            if length > 0:
                length -= len(chunk)
        return bytes(out)
