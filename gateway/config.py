"""All configuration, read once from the environment (prefix ``GATEWAY_``) or a ``.env`` file.

Every knob has a default so that ``iot-gateway serve`` works on a bare machine: the embedded store, SQLite and
an in-process task queue live in ``data_dir``. Pointing a URL at InfluxDB, PostgreSQL, a broker or Redis switches
that part to the real service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KNOWN_WEAK_SECRETS = frozenset(
    {"changeme", "change-me", "changethis", "secret", "password", "admin", "jwt-secret", "your-secret-key"}
)
MIN_SECRET_BYTES = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    # Process
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(1, ge=1, description="uvicorn worker processes")
    data_dir: Path = Path("./data")
    log_level: str = "info"
    public_url: str = ""

    # Identity
    database_url: str = ""  # empty: SQLite in data_dir
    admin_username: str = ""
    admin_password: SecretStr = SecretStr("")
    jwt_algorithm: Literal["HS256", "EdDSA", "ES256"] = "HS256"
    jwt_secret: SecretStr = SecretStr("")  # empty: generated once and kept in data_dir
    jwt_issuer: str = "iot-gateway"
    jwt_audience: str = "iot-gateway"
    access_token_ttl_s: int = Field(900, gt=0)
    refresh_token_ttl_s: int = Field(14 * 86400, gt=0)
    device_token_ttl_s: int = Field(3600, gt=0)
    device_token_max_ttl_s: int = Field(86400, gt=0)
    login_max_failures: int = Field(5, ge=1)
    login_lockout_s: int = Field(300, ge=1)
    cookie_secure: bool = False
    jwt_previous_secrets: list[SecretStr] = []  # HS256 keys that still verify after GATEWAY_JWT_SECRET changed
    device_state_cache_ttl_s: float = Field(1.0, ge=0)  # how long another process may honour a changed device
    argon2_time_cost: int = Field(3, ge=1)  # argon2-cffi defaults (RFC 9106 low-memory); lowered only in tests
    argon2_memory_kib: int = Field(65536, ge=8)
    argon2_parallelism: int = Field(4, ge=1)

    # Time-series store
    influx_url: str = ""  # empty: embedded store in data_dir
    influx_token: SecretStr = SecretStr("")
    influx_org: str = ""
    influx_bucket: str = ""
    influx_measurement: str = "readings"
    influx_timeout_s: float = Field(10.0, gt=0)

    # Ingestion
    max_body_bytes: int = Field(1_048_576, gt=0)
    max_readings_per_request: int = Field(1000, gt=0)
    max_metrics_per_reading: int = Field(64, gt=0)
    max_string_length: int = Field(256, gt=0)
    max_future_skew_s: int = Field(300, ge=0)
    max_past_age_s: int = Field(7 * 86400, ge=0)
    spool_quota_bytes: int = Field(1 << 30, gt=0)
    spool_segment_bytes: int = Field(16 << 20, gt=0)
    batch_size: int = Field(5000, gt=0)
    batch_interval_s: float = Field(0.25, gt=0)
    retry_max_backoff_s: float = Field(30.0, gt=0)
    query_cache_ttl_s: float = Field(2.0, ge=0)
    max_query_points: int = Field(2000, gt=0)
    max_query_range_s: int = Field(366 * 86400, gt=0)

    # MQTT
    mqtt_host: str = ""  # empty: no consumer (unless the embedded broker is on)
    mqtt_port: int = 1883
    mqtt_username: str = ""
    mqtt_password: SecretStr = SecretStr("")
    mqtt_client_id: str = "iot-gateway"
    mqtt_share_group: str = "iot-gateway"
    mqtt_embedded_broker: bool = False  # an in-process broker (amqtt) on host:mqtt_port, for `make run`
    mqtt_max_inflight: int = Field(1000, gt=0)  # messages being handled at once; the broker keeps the rest
    mqtt_keepalive_s: int = Field(30, ge=5)
    mqtt_dynsec_username: str = ""  # Mosquitto dynamic-security admin: every device gets its own broker login
    mqtt_dynsec_password: SecretStr = SecretStr("")

    # Cache and task queue
    redis_url: str = ""  # empty: in-process

    # Exports (long jobs; the worker runs them when redis_url is set, else the gateway process does)
    export_dir: Path | None = None  # empty: data_dir/exports; shared by the gateway and its workers
    export_ttl_s: int = Field(86400, gt=0)  # a finished file is downloadable this long
    export_max_devices: int = Field(1000, gt=0)
    export_max_active: int = Field(10, gt=0)  # queued or running jobs per tenant
    job_lease_s: float = Field(30.0, gt=0)  # a job whose worker stopped renewing this long is run again
    job_heartbeat_s: float = Field(2.0, gt=0)  # lease renewal and progress updates
    job_max_attempts: int = Field(3, ge=1)  # runs lost to crashed workers before the job fails
    job_sweep_s: float = Field(15.0, gt=0)  # expiry, lost-job recovery and the report schedule
    job_redeliver_s: float = Field(300.0, gt=0)  # an unclaimed queued job is queued again after this long
    worker_concurrency: int = Field(2, ge=1)
    report_hour_utc: int | None = Field(None, ge=0, le=23)  # daily per-tenant summary of yesterday; empty: off
    webhook_attempts: int = Field(3, ge=1)
    webhook_allow_private: bool = False  # let job webhooks reach loopback and private addresses (tests)

    @property
    def exports_path(self) -> Path:
        return self.export_dir or self.data_dir / "exports"

    # Dashboard / live
    live_buffer_size: int = Field(1000, gt=0)  # events kept per tenant for Last-Event-ID resume (ring or stream)
    live_client_queue: int = Field(256, gt=0)  # events queued per SSE client; a client that falls behind is dropped
    live_heartbeat_s: float = Field(15.0, gt=0)
    dashboard_online_s: int = Field(300, gt=0)  # a device whose last reading is newer is online
    dashboard_offline_s: int = Field(3600, gt=0)  # older than this it is offline; in between, stale
    dashboard_page_size: int = Field(48, gt=0, le=500)

    @field_validator("jwt_secret")
    @classmethod
    def _refuse_weak_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret and (secret.lower() in KNOWN_WEAK_SECRETS or len(secret.encode()) < MIN_SECRET_BYTES):
            raise ValueError(
                f"GATEWAY_JWT_SECRET is weak or a known default; use at least {MIN_SECRET_BYTES} random bytes "
                "(for example `python -c 'import secrets; print(secrets.token_urlsafe(48))'`) or leave it unset "
                "to have one generated in the data directory"
            )
        return value

    @model_validator(mode="after")
    def _influx_complete(self) -> Settings:
        if self.influx_url and not (self.influx_token.get_secret_value() and self.influx_org and self.influx_bucket):
            raise ValueError(
                "GATEWAY_INFLUX_URL needs GATEWAY_INFLUX_TOKEN, GATEWAY_INFLUX_ORG and GATEWAY_INFLUX_BUCKET"
            )
        return self

    @property
    def registry_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'registry.db').resolve()}"
