"""Session fixtures: real servers (InfluxDB, Mosquitto, PostgreSQL, Redis) on loopback.

When the variables that `scripts/test-services up` prints are set, those servers are used; otherwise each is
started on first use and stopped when the session ends. Fault tests that stop a server get a private one
(`private_server`), never the shared one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.support.services import Influx, Server, new_server


@dataclass(frozen=True)
class InfluxInfo:
    url: str
    token: str
    org: str
    bucket: str


@dataclass(frozen=True)
class MqttInfo:
    host: str
    port: int


def _shared(kind: str, keys: tuple[str, ...]) -> Iterator[dict[str, str]]:
    if all(os.environ.get(k) for k in keys):
        yield {k: os.environ[k] for k in keys}
        return
    server = new_server(kind).start()
    try:
        yield server.env()
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def influx() -> Iterator[InfluxInfo]:
    for env in _shared("influx", ("INFLUX_URL", "INFLUX_TOKEN", "INFLUX_ORG", "INFLUX_BUCKET")):
        yield InfluxInfo(env["INFLUX_URL"], env["INFLUX_TOKEN"], env["INFLUX_ORG"], env["INFLUX_BUCKET"])


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[MqttInfo]:
    for env in _shared("mosquitto", ("MQTT_HOST", "MQTT_PORT")):
        yield MqttInfo(env["MQTT_HOST"], int(env["MQTT_PORT"]))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """An asyncpg SQLAlchemy URL of a real PostgreSQL server (database `postgres`)."""
    for env in _shared("postgres", ("DATABASE_URL",)):
        yield env["DATABASE_URL"].replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    for env in _shared("redis", ("REDIS_URL",)):
        yield env["REDIS_URL"]


@pytest.fixture
def private_server() -> Iterator[Callable[[str], Server]]:
    """Start a dedicated server of a kind (for tests that stop, kill or restart it)."""
    started: list[Server] = []

    def start(kind: str) -> Server:
        server = new_server(kind)
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.destroy()


def influx_info(server: Server) -> InfluxInfo:
    assert isinstance(server, Influx)
    return InfluxInfo(server.url, server.token, server.org, server.bucket)
