"""Real servers for the test suite: InfluxDB 2.x, Mosquitto, PostgreSQL and Redis as local processes.

Each starts on a free loopback port with a throw-away data directory and can be stopped and started again
on the same data (fault tests). ``scripts/test-services up`` starts them for use by hand and prints shell
``export`` lines; pytest fixtures (tests/conftest.py) use the same classes, or the servers named by those
variables when they are already set.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("IOT_GATEWAY_TEST_STATE", Path(tempfile.gettempdir()) / "iot-gateway-test-services"))
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:g}s")


def _as_service_user() -> list[str]:
    """PostgreSQL refuses to run as root; CI runs as root, so drop to the `postgres` account there."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class Server(ABC):
    """A server process on a loopback port; stop() and start() keep its data directory."""

    name: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    pid: int | None = None

    @abstractmethod
    def argv(self) -> list[str]: ...

    @abstractmethod
    def env(self) -> dict[str, str]: ...

    def prepare(self) -> None:
        """Create the data directory and configuration on first start (none by default)."""
        return None

    def ready(self) -> None:
        wait_for_port(self.port)

    def after_first_start(self) -> None:
        """One-time setup that needs the server running (users, buckets); none by default."""
        return None

    def start(self) -> Server:
        first = not (self.data_dir / ".prepared").exists()
        if first:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.prepare()
            (self.data_dir / ".prepared").touch()
        log = open(self.data_dir / f"{self.name}.log", "ab")
        proc = subprocess.Popen(
            self.argv(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.pid = proc.pid
        try:
            self.ready()
            if first:
                self.after_first_start()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> None:
        if self.pid is None:
            return
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            self.pid = None
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # not our child (started by `up`): poll for its exit instead
                done = 0 if _alive(self.pid) else self.pid
            if done:
                break
            time.sleep(0.05)
        else:
            os.killpg(self.pid, signal.SIGKILL)
        self.pid = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        path = self.data_dir / f"{self.name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Influx(Server):
    """InfluxDB OSS 2.x built from source by scripts/build-influxdb, set up like a user would (setup API)."""

    org = "iot"
    bucket = "readings"
    token = "test-token-" + "x" * 40

    def argv(self) -> list[str]:
        return [
            influxd_binary(),
            f"--bolt-path={self.data_dir / 'influxd.bolt'}",
            f"--engine-path={self.data_dir / 'engine'}",
            f"--sqlite-path={self.data_dir / 'influxd.sqlite'}",
            f"--http-bind-address=127.0.0.1:{self.port}",
            "--reporting-disabled",
            "--log-level=warn",
            "--storage-wal-fsync-delay=0s",
            "--pprof-disabled",  # as in docker-compose.yml: profiling by default costs InfluxDB a quarter of its CPU
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"influxd did not become healthy:\n{self.log_tail()}")

    def after_first_start(self) -> None:
        body = {
            "username": "admin",
            "password": "admin-password-1",
            "org": self.org,
            "bucket": self.bucket,
            "token": self.token,
        }
        req = urllib.request.Request(
            f"{self.url}/api/v2/setup",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 201, r.status

    def env(self) -> dict[str, str]:
        return {
            "INFLUX_URL": self.url,
            "INFLUX_TOKEN": self.token,
            "INFLUX_ORG": self.org,
            "INFLUX_BUCKET": self.bucket,
        }


class Mosquitto(Server):
    """Debian's Mosquitto with persistence on and no queue limits, so a fast burst is never dropped."""

    def prepare(self) -> None:
        if os.geteuid() == 0:  # started as root, Mosquitto drops to its own account: it must write its data here
            shutil.chown(self.data_dir, "mosquitto", "mosquitto")
        (self.data_dir / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.data_dir}/\n"
            "autosave_interval 1\n"
            # Defaults keep 1000 queued messages per client and silently drop the rest.
            "max_queued_messages 0\n"
            "max_queued_bytes 0\n"
            "max_inflight_messages 1000\n"
            "log_type error\nlog_type warning\n"
            "log_dest stdout\n"
        )

    def argv(self) -> list[str]:
        return [
            shutil.which("mosquitto") or "/usr/sbin/mosquitto",
            "-c",
            str(self.data_dir / "mosquitto.conf"),
        ]

    def env(self) -> dict[str, str]:
        return {"MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(self.port)}


class DynsecMosquitto(Mosquitto):
    """Mosquitto with the dynamic-security plugin: no anonymous logins, an admin login to manage the others."""

    plugin = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
    admin = ("dynsec-admin", "dynsec-admin-password-1")

    def prepare(self) -> None:
        super().prepare()
        config, state = self.data_dir / "mosquitto.conf", self.data_dir / "dynsec.json"
        subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(state), *self.admin], check=True, capture_output=True)
        if os.geteuid() == 0:
            shutil.chown(state, "mosquitto", "mosquitto")
        text = config.read_text().replace("allow_anonymous true", "allow_anonymous false")
        config.write_text(f"{text}plugin {self.plugin}\nplugin_opt_config_file {state}\n")


class Postgres(Server):
    bindir = Path("/usr/lib/postgresql/15/bin")

    def prepare(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, "postgres", "postgres")
        subprocess.run(
            [
                *_as_service_user(),
                str(self._bin("initdb")),
                "-D",
                str(self.data_dir / "pg"),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )

    def _bin(self, name: str) -> str:
        found = self.bindir / name
        return str(found) if found.exists() else (shutil.which(name) or name)

    def argv(self) -> list[str]:
        return [
            *_as_service_user(),
            self._bin("postgres"),
            "-D",
            str(self.data_dir / "pg"),
            "-p",
            str(self.port),
            "-k",
            str(self.data_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=200",
        ]

    def start(self) -> Server:
        if os.geteuid() == 0 and self.data_dir.exists():
            shutil.chown(self.data_dir, "postgres", "postgres")
        return super().start()

    def ready(self) -> None:
        wait_for_port(self.port)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            ok = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True)
            if ok.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"postgres not ready:\n{self.log_tail()}")

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{self.port}/postgres"}


class Redis(Server):
    def argv(self) -> list[str]:
        return [
            shutil.which("redis-server") or "/usr/bin/redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
        ]

    def env(self) -> dict[str, str]:
        return {"REDIS_URL": f"redis://127.0.0.1:{self.port}/0"}


SERVICES: dict[str, type[Server]] = {
    "influx": Influx,
    "mosquitto": Mosquitto,
    "postgres": Postgres,
    "redis": Redis,
}


def influxd_binary() -> str:
    """The cached influxd, built on first use (scripts/build-influxdb prints its path)."""
    if path := os.environ.get("INFLUXD"):
        return path
    out = subprocess.run([str(REPO / "scripts" / "build-influxdb")], check=True, stdout=subprocess.PIPE, text=True)
    return out.stdout.strip().splitlines()[-1]


def new_server(kind: str, base: Path | None = None) -> Server:
    """A server with a fresh data directory (under /tmp by default: the postgres account must reach it)."""
    if base is None:
        data_dir = Path(tempfile.mkdtemp(prefix=f"iot-gateway-{kind}-"))
    else:
        data_dir = base / kind
        data_dir.mkdir(parents=True)
    if os.geteuid() == 0:
        os.chmod(data_dir, 0o755)
    return SERVICES[kind](name=kind, data_dir=data_dir)


def up() -> int:
    """Start every service, record them, print `export` lines."""
    if (STATE_DIR / "state.json").exists():
        print("services already up; run `scripts/test-services down` first", file=sys.stderr)
        return 1
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(STATE_DIR, 0o755)
    state: dict[str, dict[str, object]] = {}
    env: dict[str, str] = {}
    for kind in SERVICES:
        server = new_server(kind, STATE_DIR).start()
        state[kind] = {"pid": server.pid, "port": server.port, "data_dir": str(server.data_dir)}
        env.update(server.env())
    (STATE_DIR / "state.json").write_text(json.dumps(state))
    for key, value in env.items():
        print(f"export {key}={value}")
    return 0


def down() -> int:
    path = STATE_DIR / "state.json"
    if not path.exists():
        return 0
    for kind, info in json.loads(path.read_text()).items():
        server = SERVICES[kind](name=kind, data_dir=Path(str(info["data_dir"])), port=int(str(info["port"])))
        server.pid = int(str(info["pid"]))
        server.stop()
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    return 0


def main(argv: list[str]) -> int:
    commands = {"up": up, "down": down}
    if len(argv) != 1 or argv[0] not in commands:
        print("usage: scripts/test-services up|down", file=sys.stderr)
        return 2
    return commands[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
