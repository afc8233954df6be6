"""HTTP ingestion throughput and latency, side by side with InfluxDB's own ceiling, in one run.

Starts a private InfluxDB 2.x and a gateway (`iot-gateway serve`, 2 uvicorn workers on uvloop + httptools) on
loopback, then:
  1. ceiling: the same points written straight to InfluxDB with influxdb-client (batches of 5,000);
  2. 100-reading requests with wrk, then the time until every accepted reading is queryable (end to end);
  3. single-reading requests with wrk (token checked, spooled, 202);
  4. latency from request to queryable for probe readings sent during a load at about half the maximum rate;
and prints the gateway's peak RSS. Every load is bounded in time. Needs `wrk` (Debian package).

    .venv/bin/python -m bench.ingest_http [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS

from tests.mqtt.support import accepted, written
from tests.support.fleet import create_device, device_headers, login
from tests.support.process import GatewayProcess
from tests.support.services import Influx, new_server

ADMIN = ("bench", "bench-password-1")
WRK_SCRIPT = """
-- Requests are built before the clock starts (a pool per thread, each with its own timestamps), so the load
-- generator spends its CPU sending, not formatting JSON.
local n = 0
function setup(thread) thread:set("offset", n * 10000000); n = n + 1 end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local pool = {}
local next_request = 0
local counter = 0
function init(args)
  for k = 1, %(pool)d do
    local base = %(base)d + offset + k * %(size)d
    local parts = {}
    for i = 0, %(size)d - 1 do
      parts[#parts + 1] = '{"ts":' .. (base + i) .. ',"values":{"temperature":21.5,"humidity":40.2}}'
    end
    pool[k] = wrk.format(nil, nil, nil, '{"readings":[' .. table.concat(parts, ",") .. ']}')
  end
end
function request()
  if %(pool)d > 0 then
    next_request = next_request %% %(pool)d + 1
    return pool[next_request]
  end
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"ts":' .. (%(base)d + offset + counter) .. ',"values":{"temperature":21.5,"humidity":40.2}}')
end
"""


def count_points(influx: Influx, measurement: str, device_id: str) -> int:
    query = (
        f'from(bucket: "{influx.bucket}") |> range(start: 0) |> filter(fn: (r) => r._measurement == "{measurement}"'
        f' and r.device_id == "{device_id}" and r._field == "temperature") |> count()'
    )
    with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org, timeout=120_000) as client:
        tables = client.query_api().query(query)
    return sum(int(rec.get_value()) for t in tables for rec in t.records)


def run_wrk(
    url: str, token: str, size: int, base_ms: int, seconds: int, connections: int, workdir: Path
) -> tuple[float, int]:
    script = workdir / f"post-{size}-{base_ms}.lua"
    # Enough distinct requests that none repeats within the run (a repeat would overwrite, not add, a point).
    # Single readings are cheap to build per request: a tiny pool cycled with a counter would repeat timestamps.
    pool = 1500 * seconds if size > 1 else 0  # per wrk thread: up to 300,000 readings/s in all
    script.write_text(WRK_SCRIPT % {"token": token, "base": base_ms, "size": size, "pool": pool})
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), f"{url}/api/v1/readings"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    total = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        print(f"    note: {non2xx[1]} responses were not 202")
    return rate, total


def ceiling(influx: Influx, measurement: str, points: int) -> float:
    base = time.time_ns() // 1_000_000 - 86_400_000
    lines = [f"{measurement},device_id=ceiling temperature=21.5,humidity=40.2 {base + i}" for i in range(points)]
    with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org, timeout=120_000) as client:
        api = client.write_api(write_options=SYNCHRONOUS)
        began = time.perf_counter()
        for i in range(0, points, 5000):
            api.write(bucket=influx.bucket, record=lines[i : i + 5000], write_precision="ms")
        return points / (time.perf_counter() - began)


async def probe_latency(
    gateway: GatewayProcess, influx: Influx, measurement: str, headers: dict[str, str], device_id: str, probes: int
) -> list[float]:
    """Post one reading at a time and poll InfluxDB until it is there: request-to-queryable latency."""
    latencies: list[float] = []
    base = time.time_ns() // 1_000_000 - 7_200_000
    with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org, timeout=30_000) as client:
        query_api = client.query_api()
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            for n in range(probes):
                ts = base + n
                began = time.perf_counter()
                reply = await http.post(
                    "/api/v1/readings", json={"ts": ts, "values": {"probe": float(n)}}, headers=headers
                )
                assert reply.status_code == 202, reply.text
                query = (
                    f'from(bucket: "{influx.bucket}") |> range(start: time(v: {ts * 1_000_000}), stop: time(v: {(ts + 1) * 1_000_000}))'
                    f' |> filter(fn: (r) => r._measurement == "{measurement}" and r.device_id == "{device_id}" and r._field == "probe")'
                )
                while not await asyncio.to_thread(lambda q=query: any(t.records for t in query_api.query(q))):
                    if time.perf_counter() - began > 30:
                        raise TimeoutError("probe never became queryable")
                    await asyncio.sleep(0.01)
                latencies.append(time.perf_counter() - began)
                await asyncio.sleep(0.05)
    return latencies


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def main(seconds: int, settings: list[str]) -> None:
    if not shutil.which("wrk"):
        raise SystemExit("bench/ingest_http.py needs wrk: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    influx = new_server("influx").start()
    assert isinstance(influx, Influx)
    measurement = "bench"
    env = {
        "GATEWAY_ADMIN_USERNAME": ADMIN[0], "GATEWAY_ADMIN_PASSWORD": ADMIN[1],
        "GATEWAY_INFLUX_URL": influx.url, "GATEWAY_INFLUX_TOKEN": influx.token,
        "GATEWAY_INFLUX_ORG": influx.org, "GATEWAY_INFLUX_BUCKET": influx.bucket,
        "GATEWAY_INFLUX_MEASUREMENT": measurement, "GATEWAY_LOG_LEVEL": "warning",
    } | dict(s.split("=", 1) for s in settings)  # fmt: skip
    gateway = GatewayProcess(workdir / "gw", env, workers=2).start()
    finished = False
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            admin = await login(http, *ADMIN)
            devices = [await create_device(http, admin, name=f"bench-{i}") for i in range(3)]
            tokens = [(await device_headers(http, d, s))["Authorization"].split()[1] for d, s in devices]
        print(f"iot-gateway HTTP ingestion bench: {seconds}s per load, 2 uvicorn workers, InfluxDB 2.7 on loopback\n")

        direct = ceiling(influx, measurement, 500_000)
        print(f"  ceiling   influxdb-client straight to InfluxDB     {direct:>12,.0f} points/s")

        base = time.time_ns() // 1_000_000 - 3 * 86_400_000
        began = time.perf_counter()
        rate, _ = run_wrk(gateway.url, tokens[0], 100, base, seconds, 16, workdir)
        sent = accepted(gateway.url, 'gateway_readings_accepted_total{transport="http"}')
        # Poll the gateway's written counter (cheap) rather than count points in InfluxDB all the while.
        while written(gateway.url) < sent and time.perf_counter() - began < seconds + 120:
            await asyncio.sleep(0.1)  # each /metrics read costs the gateway a little
        done = time.perf_counter()
        stored = count_points(influx, measurement, devices[0][0])
        e2e = stored / (done - began)
        print(
            f"  gateway   100-reading requests accepted            {rate * 100:>12,.0f} readings/s  ({rate:,.0f} req/s)"
        )
        print(
            f"  gateway   100-reading, end to end into InfluxDB    {e2e:>12,.0f} readings/s  ({stored:,}/{sent:,} stored)"
        )
        print(f"  ratio     end to end / ceiling                     {e2e / direct:>12.2f}")

        single_rate, _ = run_wrk(gateway.url, tokens[1], 1, base, seconds, 128, workdir)
        print(f"  gateway   single-reading requests                  {single_rate:>12,.0f} req/s")

        # Latency at about half the maximum rate: a background wrk with fewer connections plus probes.
        half = threading.Thread(target=run_wrk, args=(gateway.url, tokens[2], 100, base, seconds, 2, workdir))
        half.start()
        latencies = await probe_latency(
            gateway, influx, measurement, {"Authorization": f"Bearer {tokens[0]}"}, devices[0][0], max(20, seconds * 10)
        )
        half.join()
        print(
            f"  latency   request -> queryable under load  p50 {pct(latencies, 50) * 1000:>7.0f} ms   p99 {pct(latencies, 99) * 1000:>7.0f} ms  ({len(latencies)} probes)"
        )
        print(f"  memory    gateway peak RSS (largest worker)        {gateway.peak_rss_kib() / 1024:>12.0f} MB")
        finished = True
    finally:
        gateway.stop()
        influx.destroy()
        if finished:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"the bench failed; the gateway's log is kept: {workdir / 'gw' / 'gateway.log'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--set", action="append", default=[], metavar="GATEWAY_X=value", help="a gateway setting")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.set))
