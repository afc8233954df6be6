"""An MQTT broker inside the gateway process (``GATEWAY_MQTT_EMBEDDED_BROKER=true``), for ``make run``.

The firmware's MQTT transport then works with nothing installed. It is amqtt, a maintained asyncio broker, on the
gateway's own event loop: MQTT 3.1.1 only, no shared subscriptions, sessions kept in memory (devices resend what
was not acknowledged), anonymous logins (each message still carries its device JWT). One process on one machine;
scaled out, use Mosquitto or EMQX.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


@asynccontextmanager
async def embedded_broker(host: str, port: int) -> AsyncIterator[None]:
    from amqtt.broker import Broker  # imported only when wanted

    logging.getLogger("amqtt").setLevel(logging.WARNING)
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
    )
    await broker.start()
    try:
        yield
    finally:
        await broker.shutdown()
