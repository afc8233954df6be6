# What the gateway says about a batch, the same for HTTP and MQTT: outcomes, counters, and the ack
# document {"accepted": n, "rejected": [{"index": i, "errors": [...]}]}.
import json

OK = 0  # delivered; readings the gateway rejected are logged and dropped
DROP = 1  # refused for validation reasons (422, 400): dropped and logged, never retried
RETRY = 2  # transient (network, 5xx, 429, 503, no ack): kept, sent again later
SPLIT = 3  # too large (413): sent again in halves
REAUTH = 4  # the device token was refused: fetch a new one and send again


class Stats:
    def __init__(self) -> None:
        self.readings = 0  # readings queued (made by the sensors)
        self.accepted = 0  # readings the gateway took
        self.rejected = 0  # readings it refused one by one (logged)
        self.dropped = 0  # readings dropped: refused batches, spool overflow, oversized readings
        self.batches = 0  # batches delivered
        self.retries = 0  # failed attempts that will be retried
        self.spilled = 0  # readings written to flash because the gateway was away
        self.sensor_errors = 0


def parse(body) -> dict:
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def apply(doc: dict, batch, start: int, end: int, stats: Stats, log) -> int:
    """Account for an ack of the readings in batch[start:end]; OK, or DROP when none was accepted."""
    count = batch.records(start, end)
    rejected = doc.get("rejected") or ()
    accepted = doc.get("accepted", count - len(rejected))
    for item in rejected:
        index = item.get("index", -1) if isinstance(item, dict) else -1
        errors = item.get("errors", ()) if isinstance(item, dict) else ()
        rec = bytes(batch.record(start, index)) if 0 <= index < count else b"?"
        log.warning("reading %d rejected: %s; dropped %s", index, "; ".join([str(e) for e in errors]), rec)
    stats.accepted += accepted
    stats.rejected += len(rejected)
    stats.batches += 1
    return OK if accepted or not rejected else DROP


def log_refused(doc: dict, count: int, status: int, stats: Stats, log) -> int:
    """A whole batch refused as invalid: drop it, say why, never retry it."""
    errors = doc.get("errors") or ()
    detail = doc.get("detail") or doc.get("title") or ""
    log.warning("gateway refused %d readings (%d %s), dropped: %s", count, status, detail, errors[:3])
    stats.dropped += count
    return DROP
