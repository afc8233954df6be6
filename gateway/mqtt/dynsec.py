"""Mosquitto's dynamic-security plugin as a second line of defense: every device gets its own broker login.

With the plugin's admin login the gateway keeps the broker in step with the registry, over the plugin's
``$CONTROL/dynamic-security/v1`` topic: a device's login is its id and secret, and its role lets it publish only
to ``devices/<id>/readings`` and subscribe only to ``devices/<id>/acks`` and ``devices/<id>/commands``. Creating or
rotating a device (re)creates the login with the new secret (which kicks the old connection), disabling or
enabling switches it, deleting removes it. Mosquitto 2.0 has no ``%u`` patterns in dynsec ACLs, hence one role per
device. Devices created before the plugin was configured (or by the CLI) get a login when their secret is rotated.
The gateway's own consumer login gets a role allowing what it needs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

import orjson
import paho.mqtt.client as paho

from gateway.devices.service import Change
from gateway.mqtt.consumer import BrokerLogin, make_client

log = logging.getLogger(__name__)

CONTROL = "$CONTROL/dynamic-security/v1"
GATEWAY_ROLE = "iot-gateway"
DEVICE_ROLE_PREFIX = "iot-device-"
TIMEOUT_S = 5.0
_HARMLESS = ("not found", "already exists")  # the state asked for is there already


class DynsecError(RuntimeError):
    """The plugin refused a command."""


def _acl(acltype: str, topic: str) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "allow": True}


def device_acls(device_id: str) -> list[dict[str, Any]]:
    base = f"devices/{device_id}"
    return [
        _acl("publishClientSend", f"{base}/readings"),
        *(
            _acl(kind, f"{base}/{leaf}")
            for leaf in ("acks", "commands")
            for kind in ("subscribePattern", "publishClientReceive")
        ),
    ]


def gateway_acls(share_group: str) -> list[dict[str, Any]]:
    readings = "devices/+/readings"
    return [
        _acl("subscribePattern", readings),
        _acl("subscribePattern", f"$share/{share_group}/{readings}"),
        _acl("publishClientReceive", readings),
        _acl("publishClientSend", "devices/+/acks"),
        _acl("publishClientSend", "devices/+/commands"),
    ]


class Dynsec:
    def __init__(self, login: BrokerLogin, client_id: str) -> None:
        self._ready = asyncio.Event()  # connected and listening for responses
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = make_client(login, client_id)
        self._client.on_connect = lambda client, *_: client.subscribe(f"{CONTROL}/response", qos=1)
        self._client.on_subscribe = lambda *_: self._call(self._ready.set)
        self._client.on_disconnect = lambda *_: self._call(self._ready.clear)
        self._client.on_message = self._on_response
        self._login = login
        self._ids = itertools.count(1)
        self._reserved = {login.username}  # broker logins of the gateway itself, never a device's
        self._waiting: dict[str, asyncio.Future[list[dict[str, Any]]]] = {}

    def _call(self, callback: Callable[[], object]) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client.connect_async(self._login.host, self._login.port, self._login.keepalive_s)
        self._client.loop_start()

    async def close(self) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    async def run(self, *commands: dict[str, Any]) -> list[dict[str, Any]]:
        """Send commands in one message; their responses, raising DynsecError for a refusal that matters."""
        assert self._loop is not None
        request = str(next(self._ids))
        future: asyncio.Future[list[dict[str, Any]]] = self._loop.create_future()
        self._waiting[request] = future
        try:
            await asyncio.wait_for(self._ready.wait(), TIMEOUT_S)
            body = {"commands": [{**c, "correlationData": request} for c in commands]}
            self._client.publish(CONTROL, orjson.dumps(body), qos=1)
            responses = await asyncio.wait_for(future, TIMEOUT_S)
        except TimeoutError:
            raise DynsecError(
                f"no answer within {TIMEOUT_S:g}s (broker away, wrong admin login, or the plugin is not loaded)"
            ) from None
        finally:
            self._waiting.pop(request, None)
        errors = [
            f"{r['command']}: {r['error']}" for r in responses if r.get("error") and not r["error"].endswith(_HARMLESS)
        ]
        if errors:
            raise DynsecError("; ".join(errors))
        return responses

    def _on_response(self, _: paho.Client, __: Any, message: paho.MQTTMessage) -> None:
        responses: list[dict[str, Any]] = orjson.loads(message.payload).get("responses") or [{}]
        future = self._waiting.get(str(responses[0].get("correlationData")))
        if future is not None:
            self._call(lambda: future.done() or future.set_result(responses))  # type: ignore[func-returns-value]

    async def ensure_gateway(self, username: str, password: str, share_group: str) -> None:
        """The consumer's login may read every device's readings and answer on their topics."""
        acls = gateway_acls(share_group)
        commands = [
            {"command": "createRole", "rolename": GATEWAY_ROLE, "acls": acls},
            *({"command": "addRoleACL", "rolename": GATEWAY_ROLE, **acl} for acl in acls),
        ]
        if username != self._login.username:  # never reset the admin's own password
            commands += [
                {"command": "createClient", "username": username, "password": password},
                {"command": "setClientPassword", "username": username, "password": password},
            ]
        self._reserved.add(username)
        await self.run(
            *commands,  # adding a role a client has is an "Internal error" in 2.0.11: remove it first
            {"command": "removeClientRole", "username": username, "rolename": GATEWAY_ROLE},
            {"command": "addClientRole", "username": username, "rolename": GATEWAY_ROLE},
        )

    async def device_changed(self, change: Change) -> None:
        """The device hook: make the broker's login of the device match the registry."""
        user, role = change.device_id, DEVICE_ROLE_PREFIX + change.device_id
        if user in self._reserved:
            raise DynsecError(f"device {user!r} has the name of the gateway's own broker login; it gets none")
        if change.deleted:
            await self.run({"command": "deleteClient", "username": user}, {"command": "deleteRole", "rolename": role})
        elif change.secret is not None:
            await self.run(
                {"command": "deleteClient", "username": user},
                {"command": "createRole", "rolename": role, "acls": device_acls(change.device_id)},
                {"command": "createClient", "username": user, "password": change.secret, "roles": [{"rolename": role}]},
                *([] if change.enabled else [{"command": "disableClient", "username": user}]),
            )
        else:
            await self.run({"command": "enableClient" if change.enabled else "disableClient", "username": user})
