# Batching: readings become batches of batch_size, a batch also leaves when its oldest reading is
# batch_max_age old or when another reading would not fit its buffer; the body is the contract's
# document; non-finite values are left out.
import asyncio
import json

from iotfw.batch import Batch, encode

from harness import Capture, check, config, figure, http_device, until


class Recorder:
    """Wraps the fake gateway's model to keep every readings body."""

    def __init__(self, model):
        self.model = model
        self.bodies = []
        self._handle = model.handle
        model.handle = self.handle

    def handle(self, method, path, headers, body):
        if path == "/api/v1/readings":
            self.bodies.append(bytes(body))
        return self._handle(method, path, headers, body)


async def main():
    # encode: compact JSON, NaN/inf left out, bools as numbers, nothing when no finite value
    rec = encode(1767225600123, {"temperature": 21.5, "bad": float("nan"), "inf": float("inf"), "ok": True})
    check(json.loads(rec) == {"ts": 1767225600123, "values": {"temperature": 21.5, "ok": 1}}, rec)
    check(encode(1, {"x": float("nan")}) == b"", "all-NaN reading encodes to nothing")

    # Batch: count limit, byte limit ("full" when another such reading would not fit), split points
    b = Batch(200, 3)
    r = encode(1767225600000, {"t": 1.25})
    check(b.add(r) and b.add(r) and not b.full(), "two readings fit")
    check(b.add(r) and b.full() and not b.add(r), "count limit")
    check(b.records(0, b.n) == 3, "records")
    mid = b.middle(0, b.n)
    check(0 < mid < b.n and b.records(0, mid) == 2, "middle at a boundary")
    check(bytes(b.record(0, 2)) == r, "record(i)")
    b.drop_front(mid)
    check(b.count == 1 and bytes(b.record(0, 0)) == r, "drop_front keeps the rest")
    small = Batch(3 * (len(r) + 2) + 10, 100)
    small.add(r)
    small.add(r)
    check(not small.full(), "room for one more")
    small.add(r)
    check(small.full(), "full by bytes")

    # A device: 35 readings with batch_size 10 -> 3 full batches; the last 5 leave by age.
    cap = Capture()
    cfg = config(batch_size=10, batch_max_age_s=0.5, sample_interval_s=0.02)
    dev, gw, _ = http_device(cfg, capture=cap)
    rec = Recorder(gw.model)
    dev.queue.spool.open()
    sender = asyncio.create_task(dev.sender.run())
    for _ in range(35):
        await dev.sample()
        await asyncio.sleep_ms(5)
    check(await until(lambda: len(rec.bodies) == 3, 2000), "three full batches sent")
    sizes = [len(json.loads(x)["readings"]) for x in rec.bodies]
    check(sizes == [10, 10, 10], "full batches: %s" % sizes)
    check(await until(lambda: len(rec.bodies) == 4, 1500), "the rest leaves by age")
    sizes = [len(json.loads(x)["readings"]) for x in rec.bodies]
    sender.cancel()
    doc = json.loads(rec.bodies[0])
    check(set(doc.keys()) == {"readings"}, "document")
    first = doc["readings"][0]
    check(isinstance(first["ts"], int) and first["ts"] > 1700000000000, "ts is epoch ms")
    check(set(first["values"].keys()) == {"temperature", "humidity"}, "values")
    all_ts = [r["ts"] for body in rec.bodies for r in json.loads(body)["readings"]]
    check(all_ts == sorted(all_ts) and len(set(all_ts)) == 35, "in order, no duplicates")
    figure("batch_sizes", sizes)
    figure("accepted", gw.model.accepted)
