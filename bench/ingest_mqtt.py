"""MQTT ingestion throughput and latency, side by side with the raw broker rate, in one run.

Starts a private Mosquitto (persistence on, no queue limits) and InfluxDB 2.x, and gateway processes (`iot-gateway
serve`, one data directory, like uvicorn workers) sharing the subscription on loopback, then for QoS 0 and QoS 1, with messages of 1 and of 10 readings, from
several devices (one connection each) of the raw-socket publisher in bench/mqttload.py, the same in every phase:
  1. raw broker: the same messages to a plain paho subscriber (no gateway), until it received them all;
  2. gateway: until every reading is queryable in InfluxDB (the end: the gateways' last store write, from their
     /metrics); lost = published - stored (distinct points),
     duplicated = readings the gateway accepted beyond those published (redeliveries);
  3. latency from publish to queryable of probe readings sent during a QoS 1 load at half the gateway's rate.
Every phase is bounded in count and time. Prints figures, asserts nothing.

    .venv/bin/python -m bench.ingest_mqtt [--devices 8] [--messages 40000] [--gateways 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from influxdb_client import InfluxDBClient
from paho.mqtt.enums import CallbackAPIVersion

from bench import mqttload
from tests.mqtt.support import accepted, gateway_env, last_write, register, written
from tests.support.process import GatewayProcess
from tests.support.services import Influx, Mosquitto, new_server

PROCESSES = 1  # the raw-socket publisher offers far more than the gateway takes from one process
WINDOW = 100  # unacknowledged QoS 1 messages per device connection
PHASE_TIMEOUT_S = 180.0
MEASUREMENT = "bench"


@dataclass(frozen=True)
class Load:
    topic: str  # with {device}
    devices: list[tuple[str, str]]  # (id, token)
    messages: int  # in all
    size: int  # readings per message
    qos: int
    base_ms: int
    rate: float | None = None  # messages/s in all; None: as fast as possible


def payload(cid: int, token: str, size: int, base_ms: int) -> bytes:
    first = base_ms + cid * size
    body = ",".join(f'{{"ts":{first + i},"values":{{"seq":{i}.0}}}}' for i in range(size))
    return f'{{"cid":{cid},"token":"{token}","readings":[{body}]}}'.encode()


def client(client_id: str) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
    c.max_inflight_messages_set(100)  # paho scans its in-flight list on every PUBACK: keep it short
    return c


def publisher(host: str, port: int, load: Load, part: int, start_at: float, out: Queue[Any]) -> None:
    """A publisher process: its share of the devices, one connection each, its packets encoded before the start."""
    mine = load.devices[part::PROCESSES]
    per_device = load.messages // len(load.devices)
    connections = [
        mqttload.Connection(
            host,
            port,
            f"pub-{device_id}-{time.monotonic_ns()}",
            mqttload.encode(
                load.topic.format(device=device_id),
                [payload(n, token, load.size, load.base_ms) for n in range(per_device)],
                load.qos,
            ),
            load.qos,
        )
        for device_id, token in mine
    ]
    rate = load.rate / PROCESSES if load.rate else None
    time.sleep(max(0.0, start_at - time.time()))
    out.put(mqttload.run(connections, window=WINDOW, rate=rate, deadline_s=PHASE_TIMEOUT_S))
    for c in connections:
        c.close()


def publish(host: str, port: int, load: Load) -> tuple[float, float]:
    """Run the publisher processes; (first publish, last publish acknowledged) as wall-clock times."""
    ctx = multiprocessing.get_context("spawn")
    out: Queue[Any] = ctx.Queue()
    start_at = time.time() + 3.0  # every process connected by then
    procs = [ctx.Process(target=publisher, args=(host, port, load, p, start_at, out)) for p in range(PROCESSES)]
    for p in procs:
        p.start()
    spans = [out.get(timeout=PHASE_TIMEOUT_S) for _ in procs]
    for p in procs:
        p.join(30)
    return min(s for s, _ in spans), max(e for _, e in spans)


class RawSubscriber:
    """A plain subscriber counting what arrives (distinct by topic and cid, and in all)."""

    def __init__(self, host: str, port: int, qos: int) -> None:
        self.seen: set[tuple[str, bytes]] = set()
        self.received, self.last = 0, 0.0
        self.client = client(f"raw-{time.monotonic_ns()}")
        self.client.on_message = self._on_message
        self.client.connect(host, port, 60)
        self.client.subscribe("bench/+/readings", qos=qos)
        self.client.loop_start()
        time.sleep(0.5)

    def _on_message(self, _: paho.Client, __: Any, message: paho.MQTTMessage) -> None:
        data = message.payload
        self.seen.add((message.topic, data[7 : data.index(b",")]))
        self.received += 1
        self.last = time.time()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def raw_phase(broker: Mosquitto, load: Load) -> dict[str, float]:
    sub = RawSubscriber("127.0.0.1", broker.port, load.qos)
    began, _ = publish("127.0.0.1", broker.port, load)
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while len(sub.seen) < load.messages and time.monotonic() < deadline:
        time.sleep(0.05)
        if load.qos == 0 and sub.last and time.time() - sub.last > 3:
            break  # QoS 0: what did not arrive by now never will
    sub.close()
    seconds = sub.last - began
    return {
        "msg/s": len(sub.seen) / seconds,
        "readings/s": len(sub.seen) * load.size / seconds,
        "lost": load.messages - len(sub.seen),
        "dup": sub.received - len(sub.seen),
    }


def count_stored(influx: Influx, phase: str) -> int:
    query = (
        f'from(bucket: "{influx.bucket}") |> range(start: 0) |> filter(fn: (r) => r._measurement == "{MEASUREMENT}"'
        f' and r._field == "seq" and r.phase == "{phase}") |> group() |> count()'
    )
    with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org, timeout=120_000) as db:
        tables = db.query_api().query(query)
    return sum(int(rec.get_value()) for t in tables for rec in t.records)


def cpu_s(gateways: list[GatewayProcess]) -> float:
    """User + system CPU seconds of the gateway processes so far."""
    total = 0.0
    for gateway in gateways:
        assert gateway.proc is not None
        fields = Path(f"/proc/{gateway.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def accepted_by(gateways: list[GatewayProcess]) -> float:
    return sum(accepted(g.url) for g in gateways)


def gateway_phase(
    broker: Mosquitto, influx: Influx, gateways: list[GatewayProcess], phase: str, load: Load
) -> dict[str, float]:
    before, cpu_before = accepted_by(gateways), cpu_s(gateways)
    written_before = sum(written(g.url) for g in gateways)
    began, _ = publish("127.0.0.1", broker.port, load)
    want, deadline = load.messages * load.size, time.monotonic() + PHASE_TIMEOUT_S
    # Poll the gateways' written counter (cheap); counting points in InfluxDB every moment would load it.
    done, progressed = 0.0, time.time()
    while done < want and time.monotonic() < deadline:
        time.sleep(0.1)  # each /metrics read costs the gateway a little
        if (now_done := sum(written(g.url) for g in gateways) - written_before) > done:
            done, progressed = now_done, time.time()
        elif load.qos == 0 and time.time() - progressed > 5:
            break  # QoS 0: what is not stored by now was dropped
    stored = count_stored(influx, phase)
    while stored < want and load.qos == 1 and time.monotonic() < deadline:  # written twice, yet some missing?
        time.sleep(1)
        if (now_stored := count_stored(influx, phase)) > stored:
            stored, progressed = now_stored, time.time()
    # The end is the gateways' own time of their last store write, not when a poll happened to see it.
    seconds = max(min(max(last_write(g.url) for g in gateways), progressed), began + 1e-3) - began
    return {
        "msg/s": stored / load.size / seconds,
        "readings/s": stored / seconds,
        "lost": want - stored,
        "dup": max(0.0, accepted_by(gateways) - before - stored),
        "cpu µs/msg": (cpu_s(gateways) - cpu_before) / (stored / load.size) * 1e6 if stored else 0.0,
    }


def latency_phase(broker: Mosquitto, influx: Influx, load: Load, probe: tuple[str, str], seconds: float) -> list[float]:
    """Probe readings every 50 ms during the load; each one's delay until InfluxDB answers with it."""
    published: dict[int, float] = {}
    seen: dict[int, float] = {}
    stop = threading.Event()
    probe_id, token = probe

    def send_probes() -> None:
        c = client(f"probe-{time.monotonic_ns()}")
        c.connect("127.0.0.1", broker.port, 60)
        c.loop_start()
        time.sleep(3.5)  # the load starts 3 s after the publishers are launched
        while not stop.is_set():
            ts = time.time_ns() // 1_000_000
            published[ts] = time.time()
            body = f'{{"token":"{token}","readings":[{{"ts":{ts},"values":{{"seq":1.0}}}}]}}'
            c.publish(f"devices/{probe_id}/readings", body.encode(), qos=1)
            time.sleep(0.05)
        c.disconnect()
        c.loop_stop()

    def poll() -> None:
        query = (
            f'from(bucket: "{influx.bucket}") |> range(start: -1h) |> filter(fn: (r) => r._measurement =='
            f' "{MEASUREMENT}" and r.device_id == "{probe_id}" and r._field == "seq") |> keep(columns: ["_time"])'
        )
        with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org, timeout=60_000) as db:
            api = db.query_api()
            deadline = time.monotonic() + seconds + 30
            while time.monotonic() < deadline and not (stop.is_set() and published.keys() <= seen.keys()):
                now = time.time()
                for table in api.query(query):
                    for rec in table.records:
                        seen.setdefault(int(rec.get_time().timestamp() * 1000 + 0.5), now)
                time.sleep(0.05)

    threads = [threading.Thread(target=send_probes), threading.Thread(target=poll)]
    for t in threads:
        t.start()
    publish("127.0.0.1", broker.port, load)
    stop.set()
    for t in threads:
        t.join()
    return sorted((seen[ts] - at) for ts, at in published.items() if ts in seen)


def fmt(figures: dict[str, float]) -> str:
    cpu = f"   gateway CPU {figures['cpu µs/msg']:,.0f} µs/msg" if "cpu µs/msg" in figures else ""
    return (
        f"{figures['msg/s']:>9,.0f} msg/s {figures['readings/s']:>10,.0f} readings/s"
        f"   lost {figures['lost']:>6,.0f}   dup {figures['dup']:>6,.0f}{cpu}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--messages", type=int, default=40_000, help="per phase (10-reading phases: 10x the readings)")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--gateways", type=int, default=2, help="gateway processes on one shared subscription")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    broker = new_server("mosquitto", base)
    influx = new_server("influx", base)
    gateways: list[GatewayProcess] = []
    try:
        broker.start()
        influx.start()
        assert isinstance(broker, Mosquitto) and isinstance(influx, Influx)
        env = gateway_env(influx, MEASUREMENT, "127.0.0.1", broker.port, log_level="warning", batch_interval_s=0.25)
        for _ in range(args.gateways):  # one after the other: each claims the next spool slot and client id
            gateways.append(GatewayProcess(base / "gateway", env).start())
        base_ms = time.time_ns() // 1_000_000 - 2 * 86_400_000
        shapes = [(qos, size) for qos in (0, 1) for size in (1, 10)]

        def fleet(phase: str) -> list[tuple[str, str]]:
            ids = [f"{phase}-{i}" for i in range(args.devices)]
            created = register(gateways[0].url, ids, tags={"phase": phase})
            return [(d, token) for d, (_, token) in created.items()]

        def load(topic: str, devices: list[tuple[str, str]], qos: int, size: int, rate: float | None = None) -> Load:
            return Load(topic, devices, args.messages - args.messages % len(devices), size, qos, base_ms, rate)

        print(
            f"{args.devices} devices in {PROCESSES} publisher processes, {args.gateways} gateway processes,"
            f" MQTT 3.1.1, on loopback, {os.cpu_count()} CPUs"
        )
        raw: dict[tuple[int, int], dict[str, float]] = {}
        raw_devices = [(f"raw-{i}", "x" * 300) for i in range(args.devices)]
        for qos, size in shapes:
            raw[qos, size] = raw_phase(broker, load("bench/{device}/readings", raw_devices, qos, size))
            print(f"  raw broker  QoS {qos}, {size:>2} readings/msg: {fmt(raw[qos, size])}")
        through: dict[tuple[int, int], dict[str, float]] = {}
        for qos, size in shapes:
            phase = f"q{qos}x{size}"
            through[qos, size] = gateway_phase(
                broker, influx, gateways, phase, load("devices/{device}/readings", fleet(phase), qos, size)
            )
            ratio = through[qos, size]["readings/s"] / raw[qos, size]["readings/s"]
            print(f"  gateway     QoS {qos}, {size:>2} readings/msg: {fmt(through[qos, size])}   {ratio:.2f}x raw")
        half = through[1, 1]["msg/s"] / 2
        messages = int(half * args.latency_seconds) // args.devices * args.devices
        lat_load = replace(load("devices/{device}/readings", fleet("latency"), 1, 1, rate=half), messages=messages)
        delays = latency_phase(broker, influx, lat_load, fleet("probe")[0], args.latency_seconds)
        if delays:
            p50, p99 = statistics.median(delays), delays[min(len(delays) - 1, int(len(delays) * 0.99))]
            print(
                f"  latency publish -> queryable at {half:,.0f} msg/s (QoS 1): p50 {p50:.3f} s, p99 {p99:.3f} s"
                f" ({len(delays)} probes)"
            )
        q1, q10 = through[1, 1], through[1, 10]
        checks: list[tuple[str, Callable[[], bool]]] = [
            ("QoS 1 single-reading >= 12,000 msg/s", lambda: q1["msg/s"] >= 12_000),
            ("QoS 1 10-reading >= 100,000 readings/s", lambda: q10["readings/s"] >= 100_000),
            ("QoS 1 10-reading >= 1/3 of raw broker", lambda: q10["readings/s"] >= raw[1, 10]["readings/s"] / 3),
            (
                "QoS 1: 0 lost, 0 duplicated",
                lambda: all(through[1, s]["lost"] == through[1, s]["dup"] == 0 for s in (1, 10)),
            ),
            ("p99 publish -> queryable < 2 s at half rate", lambda: bool(delays) and p99 < 2.0),
        ]
        print("targets:")
        for name, ok in checks:
            print(f"  [{'met' if ok() else 'MISSED'}] {name}")
        print(f"gateway peak RSS {max(g.peak_rss_kib() for g in gateways) / 1024:.0f} MiB per process")
    finally:
        for gateway in gateways:
            gateway.stop()
        broker.destroy()
        influx.destroy()


if __name__ == "__main__":
    main()
