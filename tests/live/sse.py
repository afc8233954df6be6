"""A small SSE reader for tests: parse a streamed response into events (comments and heartbeats skipped)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx


@dataclass
class Sse:
    event: str
    data: str
    id: str | None


async def events(response: httpx.Response) -> AsyncIterator[Sse]:
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields:
                yield Sse(fields.get("event", "message"), fields["data"], fields.get("id"))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


async def take(stream: AsyncIterator[Sse], count: int, within_s: float = 10.0) -> list[Sse]:
    """The next ``count`` events, or fail after ``within_s`` seconds."""
    async with asyncio.timeout(within_s):
        return [await anext(stream) for _ in range(count)]
