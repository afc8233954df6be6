"""The MQTT component: the consumer into the pipeline, and optionally the embedded broker and broker-side logins.

Off unless ``GATEWAY_MQTT_HOST`` is set or the embedded broker is on. It starts after the pipeline and stops
before it, so whatever it has in hand is spooled (and acked) or left unacked for the broker to redeliver. Its client
id is ``GATEWAY_MQTT_CLIENT_ID`` plus the process's spool slot: stable across restarts (the broker resumes the
session and redelivers what was not acked), distinct between workers sharing a data directory. Replicas on other
machines need their own ``GATEWAY_MQTT_CLIENT_ID``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from pathlib import Path

from fastapi import FastAPI

from gateway.config import Settings
from gateway.devices.service import Hook
from gateway.ingest.mqtt import MqttIngest
from gateway.mqtt.consumer import BrokerLogin, Consumer
from gateway.mqtt.dynsec import Dynsec, DynsecError
from gateway.mqtt.embedded import embedded_broker

log = logging.getLogger(__name__)
READINGS = "devices/+/readings"


def instance_id(data_dir: Path) -> str:
    """A random id kept in the data directory: the broker session is as durable as the spool beside it, and two
    replicas never share a client id (the broker would hand the session back and forth between them)."""
    path = data_dir / "mqtt-instance-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = secrets.token_hex(4)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value)
        os.replace(tmp, path)
        return value


def broker_login(settings: Settings) -> BrokerLogin:
    return BrokerLogin(
        settings.mqtt_host,
        settings.mqtt_port,
        settings.mqtt_username,
        settings.mqtt_password.get_secret_value(),
        settings.mqtt_keepalive_s,
    )


def admin_login(settings: Settings, login: BrokerLogin) -> BrokerLogin:
    """The dynamic-security admin's login on the consumer's broker."""
    password = settings.mqtt_dynsec_password.get_secret_value()
    return replace(login, username=settings.mqtt_dynsec_username, password=password)


@asynccontextmanager
async def broker_device_hooks(settings: Settings) -> AsyncIterator[list[Hook]]:
    """For the CLI: the hook that gives a device its broker login, when dynamic security is configured."""
    if not (settings.mqtt_host and settings.mqtt_dynsec_username):
        yield []
        return
    dynsec = Dynsec(admin_login(settings, broker_login(settings)), f"{settings.mqtt_client_id}-cli-{secrets.token_hex(3)}")
    await dynsec.start()
    try:
        yield [dynsec.device_changed]
    finally:
        await dynsec.close()


@asynccontextmanager
async def mqtt_component(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if not (settings.mqtt_host or settings.mqtt_embedded_broker):
        yield
        return
    slot = app.state.pipeline.spool.directory.name.removeprefix("slot-")
    client_id = f"{settings.mqtt_client_id}-{instance_id(settings.data_dir)}-{slot}"
    async with AsyncExitStack() as stack:
        if settings.mqtt_embedded_broker:
            await stack.enter_async_context(embedded_broker(settings.host, settings.mqtt_port))
            local = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
            login, topic = BrokerLogin(local, settings.mqtt_port), READINGS  # no shared subscriptions
        else:
            login = broker_login(settings)
            group = settings.mqtt_share_group
            topic = f"$share/{group}/{READINGS}" if group else READINGS
        if settings.mqtt_dynsec_username:
            admin = admin_login(settings, login)
            dynsec = Dynsec(admin, f"{client_id}-dynsec")
            await dynsec.start()
            stack.push_async_callback(dynsec.close)
            login = login if login.username else admin
            setup = asyncio.create_task(_set_up(dynsec, login, settings.mqtt_share_group))
            stack.callback(setup.cancel)
            app.state.device_hooks = [*getattr(app.state, "device_hooks", []), dynsec.device_changed]
        ingest = MqttIngest(app.state.device_auth, app.state.pipeline, app.state.limits, settings.max_body_bytes)
        consumer = Consumer(
            login,
            client_id,
            topic,
            ingest,
            max_inflight=settings.mqtt_max_inflight,
            max_backoff_s=settings.retry_max_backoff_s,
        )
        await consumer.start()
        stack.push_async_callback(consumer.close)
        app.state.checks["mqtt"] = consumer.check
        yield


async def _set_up(dynsec: Dynsec, login: BrokerLogin, share_group: str) -> None:
    """Give the consumer's login its role; retried until the broker answers (the consumer retries meanwhile)."""
    delay = 1.0
    while True:
        try:
            await dynsec.ensure_gateway(login.username, login.password, share_group)
            return
        except DynsecError as exc:
            log.warning("cannot set up the gateway's broker login yet: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
