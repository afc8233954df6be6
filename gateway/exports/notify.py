"""The optional webhook: POST the finished job's document, retried a few times.

The URL is a user's, so by default it may not point at loopback, private or link-local addresses (the gateway's
own network); it is checked when the job is submitted and again before sending, as DNS may have changed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

log = logging.getLogger(__name__)


async def check_url(url: str, allow_private: bool) -> str | None:
    """Why the URL may not be called, or None."""
    host = urlsplit(url).hostname or ""
    if allow_private:
        return None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return f"cannot resolve {host!r}"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return f"{host!r} resolves to a non-public address"
    return None


async def post_job(url: str, document: dict[str, Any], *, attempts: int, allow_private: bool) -> bool:
    if reason := await check_url(url, allow_private):
        log.warning("job webhook %s refused: %s", url, reason)
        return False
    try:
        async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(attempts),
                wait=wait_exponential(multiplier=0.5, max=10),
                retry=retry_if_exception_type(httpx.HTTPError),
                reraise=True,
            ):
                with attempt:
                    (await client.post(url, json=document)).raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("job webhook %s failed %d times: %s", url, attempts, exc)
        return False
    return True
