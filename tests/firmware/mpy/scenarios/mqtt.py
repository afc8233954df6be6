# MQTT: QoS 1 publish of the same document plus token and cid, the gateway's ack matched by cid; an
# ack with an error means a refused token (fetched again, batch re-sent); no ack means retry; a
# refused broker login is a rejected secret; a dropped connection is re-established.
import asyncio
import json

from fakes import MqttBroker
from gateway_model import GatewayModel
from harness import Capture, check, config, figure, mqtt_device, until

T0 = 1767225600000


def fill(dev, n, start=0):
    for i in range(start, start + n):
        dev.queue.add(T0 + i, {"t": i})


async def main():
    cap = Capture()
    cfg = config(transport="mqtt", batch_size=5, backoff_base_ms=20, backoff_max_ms=40, ack_timeout_s=0.3)
    dev, broker, auth = mqtt_device(cfg, capture=cap)
    dev.queue.spool.open()
    seen = []
    handle = broker.model.handle_mqtt

    def spy(device, payload):
        seen.append(json.loads(payload))
        return handle(device, payload)

    broker.model.handle_mqtt = spy
    fill(dev, 5)
    check(await dev.sender.send_one(), "published and acked")
    doc = seen[0]
    check(set(doc.keys()) == {"cid", "token", "readings"} and doc["token"].startswith("tok-"), "document")
    check([r["ts"] for r in doc["readings"]] == [T0 + i for i in range(5)], "readings")
    check(broker.connacks == [0] and dev.stats.accepted == 5, "login as the device, ack counted")

    # An ack for another cid is ignored; the right one counts.
    dev.sender.transport._on_message(b"devices/dev-1/acks", b'{"cid": 999, "accepted": 77}')
    check(dev.stats.accepted == 5, "foreign cid ignored")

    # Rejected readings in the ack are logged, not retried.
    dev.queue.add(T0 + 100, {"t": 500000})
    for i in range(4):
        dev.queue.add(T0 + 101 + i, {"t": 1})
    check(await dev.sender.send_one(), "mixed batch acked")
    check(dev.stats.rejected == 1 and cap.count("reading 0 rejected: t: out of range") == 1, "rejection logged")

    # Token refused by the gateway (ack with "error"): fetch a new token and publish again.
    broker.model.revoke_tokens()
    fill(dev, 5, 10)
    fetches = auth.fetches
    check(await dev.sender.send_one(), "re-published with a new token")
    check(auth.fetches == fetches + 1 and seen[-2]["cid"] != seen[-1]["cid"], "new token, new cid")
    check(broker.model.received[-5:] == [T0 + 10 + i for i in range(5)], "delivered")

    # The gateway behind the broker is down: PUBACK comes, the ack does not -> retry later.
    broker.model.script = [1]
    fill(dev, 5, 20)
    check(not await dev.sender.send_one(), "no ack: transient")
    check(await dev.sender.send_one(), "second try acked")
    check(broker.model.received[-5:] == [T0 + 20 + i for i in range(5)], "nothing lost")

    # The connection drops: the next send reconnects.
    client = dev.sender.transport.client
    client._r.end()  # the broker closes the socket
    await until(lambda: not client.connected, 1000)
    check(not client.connected, "loss noticed")
    fill(dev, 5, 30)
    check(await dev.sender.send_one(), "reconnected and delivered")
    check(len(broker.connacks) == 2, "a second CONNECT")
    # Idle for longer than the keepalive (no PINGREQ task): the connection is replaced before publishing.
    client._last_tx -= (client.keepalive_s + 1) * 1000
    fill(dev, 5, 40)
    check(await dev.sender.send_one(), "delivered over a fresh connection")
    check(len(broker.connacks) == 3, "a third CONNECT after the idle period")
    figure("mqtt_accepted", broker.model.accepted)
    figure("connects", len(broker.connacks))
    await dev.transport.close()

    # A broker that refuses the login: the secret was rotated.
    cap = Capture()
    broker = MqttBroker(GatewayModel(), logins={"dev-1": "old"})
    dev, broker, auth = mqtt_device(cfg, broker=broker, capture=cap)
    dev.queue.spool.open()
    fill(dev, 5)
    task = asyncio.create_task(dev.sender.run())
    await asyncio.sleep_ms(300)
    task.cancel()
    check(cap.count("secret rejected: rotate config") == 1, "login refusal reported once")
    check(broker.connacks == [5], "one login attempt, no hammering")
    check(dev.stats.dropped == 0 and len(dev.queue.spool) == 1, "readings kept")
