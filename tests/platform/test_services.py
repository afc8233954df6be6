"""The real servers the suite stands on answer like the real thing."""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

from tests.conftest import InfluxInfo, MqttInfo


def test_influx_write_and_read_back(influx: InfluxInfo) -> None:
    measurement = f"probe_{uuid.uuid4().hex[:8]}"
    now_ms = int(time.time() * 1000)
    with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org) as client:
        points = [
            Point(measurement).tag("device_id", "d1").field("v", float(i)).time(now_ms - i, WritePrecision.MS)
            for i in range(5)
        ]
        client.write_api(write_options=SYNCHRONOUS).write(bucket=influx.bucket, record=points)
        tables = client.query_api().query(
            f'from(bucket: "{influx.bucket}") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "{measurement}")'
        )
        values = sorted(rec.get_value() for t in tables for rec in t.records)
    assert values == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_mosquitto_publish_and_receive(mosquitto: MqttInfo) -> None:
    topic = f"probe/{uuid.uuid4().hex[:8]}"
    got: list[bytes] = []
    subscribed, received = threading.Event(), threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:6]}")
    sub.on_subscribe = lambda *a: subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.payload)
        received.set()

    sub.on_message = on_message
    sub.connect(mosquitto.host, mosquitto.port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    try:
        assert subscribed.wait(5)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
        pub.connect(mosquitto.host, mosquitto.port)
        pub.loop_start()
        pub.publish(topic, b"hello", qos=1).wait_for_publish(5)
        pub.loop_stop()
        pub.disconnect()
        assert received.wait(5)
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert got == [b"hello"]
