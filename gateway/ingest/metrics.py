"""Prometheus metrics of the write path (served on /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

READINGS_ACCEPTED = Counter("gateway_readings_accepted_total", "Readings accepted into the spool", ["transport"])
READINGS_REJECTED = Counter(
    "gateway_readings_rejected_total", "Readings or messages rejected, by reason", ["transport", "reason"]
)
# Each worker process owns one slot, so summing the live processes' values is the gateway's figure.
SPOOL_BYTES = Gauge(
    "gateway_spool_unconfirmed_bytes", "Spooled bytes the sink has not confirmed", ["slot"], multiprocess_mode="livesum"
)
SPOOL_DEPTH = Gauge(
    "gateway_spool_unconfirmed_readings",
    "Readings read from the spool awaiting the sink",
    ["slot"],
    multiprocess_mode="livesum",
)
READINGS_WRITTEN = Counter("gateway_readings_written_total", "Readings the sink stored (queryable from then on)")
# For alerting on a store that stopped taking writes, and for benches: when the last readings became queryable.
SINK_LAST_WRITE = Gauge(
    "gateway_sink_last_write_timestamp_seconds",
    "Unix time of the last successful sink write",
    multiprocess_mode="max",
)
SINK_BATCHES = Counter("gateway_sink_batches_total", "Batches written to the sink, by outcome", ["outcome"])
SINK_RETRIES = Counter("gateway_sink_retries_total", "Failed sink writes that will be retried")
SINK_LATENCY = Histogram(
    "gateway_sink_write_seconds",
    "Duration of successful sink writes",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BACKPRESSURE = Counter("gateway_backpressure_total", "Requests refused because the spool is full", ["transport"])
