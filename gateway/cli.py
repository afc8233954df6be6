"""The ``iot-gateway`` command. Each sub-command reads the same settings as ``serve``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from gateway.config import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if workers > 1:
        _prometheus_multiprocess(settings)
    base = f"http://{host}:{port}"
    print(f"iot-gateway on {base}  dashboard: {base}/  API docs: {base}/docs", flush=True)
    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        proxy_headers=False,
    )
    return 0


def _users_create(args: argparse.Namespace, settings: Settings) -> int:
    from gateway import security
    from gateway.db.lifespan import open_registry
    from gateway.users import service as users
    from gateway.users.models import Role

    password = args.password or getpass.getpass(f"password for {args.username}: ")

    async def create() -> str:
        async with open_registry(settings) as (_, sessions), sessions() as session:
            hasher = security.make_hasher(settings)
            role, tenant = Role(args.role), args.tenant
            await users.create(session, hasher, username=args.username, password=password, role=role, tenant_id=tenant)
        return f"created {args.role} {args.username!r} in tenant {args.tenant!r}"

    return _run(create())


def _devices_create(args: argparse.Namespace, settings: Settings) -> int:
    from gateway import security
    from gateway.db.lifespan import open_registry
    from gateway.devices import service as devices
    from gateway.devices.schemas import DeviceFields
    from gateway.mqtt.lifespan import broker_device_hooks
    from gateway.tenants import service as tenants

    async def create() -> str:
        body = DeviceFields(device_id=args.device_id, name=args.name, type=args.type)
        hasher = security.make_hasher(settings)
        async with open_registry(settings) as (_, sessions), broker_device_hooks(settings) as hooks:
            async with sessions() as session:
                await tenants.ensure(session, args.tenant)
                created = await devices.create(session, hasher, args.tenant, body, lambda _: None, hooks)
        return f"device_id={created.device_id}\nsecret={created.secret}"

    return _run(create())


def _keys_rotate(_: argparse.Namespace, settings: Settings) -> int:
    from gateway import security

    try:
        keys = security.rotate_keys(settings)
    except ValueError as exc:
        print(f"iot-gateway: {exc}", file=sys.stderr)
        return 1
    print(f"new signing key {keys.current.kid} ({keys.current.alg}); restart the gateway to sign with it")
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from gateway import worker

    if args.check:
        return 0 if worker.healthy(settings) else 1
    if not settings.redis_url:
        print("iot-gateway: the worker needs GATEWAY_REDIS_URL (without it the gateway runs jobs)", file=sys.stderr)
        return 2
    return worker.main(settings)


def _reports_run(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, date, datetime, timedelta

    from gateway.db.lifespan import open_registry
    from gateway.errors import NotFound
    from gateway.exports import repository, service
    from gateway.exports.queue import JobQueue, make_broker

    async def queue_reports() -> str:
        day = date.fromisoformat(args.day) if args.day else datetime.now(UTC).date() - timedelta(days=1)
        broker = make_broker(settings) if settings.redis_url else None
        queue = JobQueue(broker) if broker else None  # none: the running gateway's sweeper hands them over
        async with open_registry(settings) as (_, sessions), sessions() as session:
            tenants = await repository.tenant_ids(session)
            if args.tenant:
                if args.tenant not in tenants:
                    raise NotFound(f"no tenant {args.tenant!r}")
                tenants = [args.tenant]
            if broker:
                await broker.startup()
            try:
                jobs = [await service.enqueue(session, queue, service.report_job(t, day)) for t in tenants]
            finally:
                if broker:
                    await broker.shutdown()
        return "\n".join(f"queued the {day} report of {job.tenant_id}: job {job.id}" for job in jobs)

    return _run(queue_reports())


def _simulate(args: argparse.Namespace, _: Settings) -> int:
    from gateway.simulate import command

    return command.run(args)


def _run(command: Coroutine[Any, Any, str]) -> int:
    """Print what a registry command made, or its refusal (a GatewayError or a pydantic ValidationError)."""
    from gateway.errors import GatewayError

    try:
        print(asyncio.run(command))
    except (GatewayError, ValueError) as exc:
        print(f"iot-gateway: {exc}", file=sys.stderr)
        return 1
    return 0


def _prometheus_multiprocess(settings: Settings) -> None:
    """Workers write their metrics to files that /metrics merges; set before any worker imports prometheus_client."""
    import os
    import shutil

    from gateway.health import MULTIPROC_ENV

    directory = (settings.data_dir / "prometheus").resolve()
    shutil.rmtree(directory, ignore_errors=True)  # figures of processes from an earlier run would be summed
    directory.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(directory)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iot-gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API, dashboard and MQTT consumer")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(handler=_serve)

    users = sub.add_parser("users", help="manage users").add_subparsers(dest="action", required=True)
    create_user = users.add_parser("create", help="add a user (and its tenant when new)")
    create_user.add_argument("--username", required=True)
    create_user.add_argument("--password", help="prompted for when left out")
    create_user.add_argument("--role", required=True, choices=["admin", "operator", "viewer"])
    create_user.add_argument("--tenant", default="default")
    create_user.set_defaults(handler=_users_create)

    devices = sub.add_parser("devices", help="manage devices").add_subparsers(dest="action", required=True)
    create_device = devices.add_parser("create", help="add a device; prints its id and secret (shown once)")
    create_device.add_argument("--name", required=True)
    create_device.add_argument("--tenant", default="default")
    create_device.add_argument("--device-id")
    create_device.add_argument("--type", help="the name of a device type of the tenant")
    create_device.set_defaults(handler=_devices_create)

    keys = sub.add_parser("keys", help="manage the JWT signing keys").add_subparsers(dest="action", required=True)
    rotate = keys.add_parser("rotate", help="sign with a new key; tokens of the old one stay valid until they expire")
    rotate.set_defaults(handler=_keys_rotate)

    worker = sub.add_parser("worker", help="run export and report jobs from the Redis task queue")
    worker.add_argument("--check", action="store_true", help="exit 0 if a worker on this host is alive")
    worker.set_defaults(handler=_worker)

    reports = sub.add_parser("reports", help="daily reports").add_subparsers(dest="action", required=True)
    run_reports = reports.add_parser(
        "run", help="queue the daily report now (the schedule is GATEWAY_REPORT_HOUR_UTC, run by the workers)"
    )
    run_reports.add_argument("--tenant", help="one tenant; default every tenant")
    run_reports.add_argument("--day", help="the UTC day, YYYY-MM-DD; default yesterday")
    run_reports.set_defaults(handler=_reports_run)

    from gateway.simulate.command import add_arguments as simulate_arguments

    simulate = sub.add_parser("simulate", help="run simulated devices (the firmware's own code) against a gateway")
    simulate_arguments(simulate)
    simulate.set_defaults(handler=_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValueError as exc:  # pydantic's ValidationError: a refused setting, said plainly
        print(f"iot-gateway: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    handler: Handler = args.handler
    return handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
