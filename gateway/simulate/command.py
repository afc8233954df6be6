"""``iot-gateway simulate``: its options and its run (progress on stderr, the summary on stdout)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from gateway.simulate import firmware, fleet, register
from gateway.simulate.progress import Progress


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its error message
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gateway", required=True, metavar="URL", help="the gateway's base URL, e.g. http://host:8000")
    parser.add_argument("--username", required=True, help="a user allowed to create devices (operator or admin)")
    parser.add_argument("--password", help="prompted for when left out")
    parser.add_argument("--devices", type=_positive(int), default=10, metavar="N", help="fleet size (default 10)")
    parser.add_argument("--transport", choices=["http", "mqtt"], default="http", help="default http")
    parser.add_argument(
        "--rate", type=_positive(float), default=1.0, metavar="R", help="readings per second per device (default 1)"
    )
    parser.add_argument(
        "--duration", type=_positive(float), default=60.0, metavar="S", help="seconds of sampling (default 60)"
    )
    parser.add_argument("--mqtt-host", metavar="HOST", help="the broker (default: the gateway's host)")
    parser.add_argument("--mqtt-port", type=_positive(int), default=1883, metavar="PORT", help="default 1883")
    parser.add_argument(
        "--prefix", default="sim", help="device names are PREFIX-0001...; existing ones are reused (default sim)"
    )
    parser.add_argument(
        "--batch-size", type=_positive(int), default=10, metavar="N", help="readings per batch (default 10)"
    )
    parser.add_argument(
        "--batch-age", type=_positive(float), default=1.0, metavar="S", help="a batch leaves this old (default 1)"
    )
    parser.add_argument(
        "--drain-timeout",
        type=_positive(float),
        default=30.0,
        metavar="S",
        help="after sampling, wait at most this long for the devices to deliver what they hold (default 30)",
    )
    parser.add_argument(
        "--firmware", metavar="DIR", help="the firmware library (default: firmware/lib of this repository checkout)"
    )
    parser.add_argument(
        "--progress-every",
        type=_positive(float),
        metavar="S",
        help="progress interval (default 0.5 on a terminal, else 5)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


async def _simulate(args: argparse.Namespace, password: str, progress: Progress) -> fleet.Summary:
    fw = firmware.load(firmware.find_lib(args.firmware))
    names = [f"{args.prefix}-{i:04d}" for i in range(1, args.devices + 1)]
    identities = await register.provision(args.gateway, args.username, password, names)
    with tempfile.TemporaryDirectory(prefix="iot-gateway-simulate-") as spool_root:
        plan = fleet.Plan(
            gateway_url=args.gateway.rstrip("/"),
            transport=args.transport,
            rate=args.rate,
            duration_s=args.duration,
            spool_root=Path(spool_root),
            batch_size=args.batch_size,
            batch_age_s=args.batch_age,
            mqtt_host=args.mqtt_host or urlsplit(args.gateway).hostname or "",
            mqtt_port=args.mqtt_port,
            drain_timeout_s=args.drain_timeout,
        )
        try:
            return await fleet.run(fw, plan, identities, progress.update)
        finally:
            progress.finish()


def run(args: argparse.Namespace) -> int:
    """0: every reading delivered; 1: some were not (or a device failed); 2: the run could not start; 130: Ctrl-C."""
    if not args.gateway.startswith(("http://", "https://")):
        print("iot-gateway: --gateway must start with http:// or https://", file=sys.stderr)
        return 2
    password = args.password if args.password is not None else getpass.getpass(f"password for {args.username}: ")
    progress = Progress(sys.stderr, every_s=args.progress_every, enabled=not args.quiet)
    try:
        summary = asyncio.run(_simulate(args, password, progress))
    except (firmware.FirmwareNotFound, register.RegistrationError, OSError) as exc:
        print(f"iot-gateway: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # the firmware's ConfigError: an option the firmware refuses
        print(f"iot-gateway: the firmware refused the configuration: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the devices were stopped on the way out; what they held is not delivered
        print("iot-gateway: simulate interrupted", file=sys.stderr)
        return 130
    print(json.dumps(summary.to_json()) if args.json else summary.text(), flush=True)
    return 0 if summary.ok else 1
