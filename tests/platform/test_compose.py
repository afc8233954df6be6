"""docker-compose.yml cannot run here; check it parses and refers only to things that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from gateway.config import Settings

REPO = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_services_and_volumes_resolve() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"gateway", "mosquitto", "influxdb"} <= set(services)
    declared_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
        assert "healthcheck" in service, f"{name} has no health check"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name} mounts missing file {source}"
            else:
                assert source in declared_volumes, f"{name} uses undeclared volume {source}"
    assert services["influxdb"]["image"].startswith("influxdb:2.")


def test_gateway_variables_exist_in_settings() -> None:
    fields = {f"GATEWAY_{name.upper()}" for name in Settings.model_fields}
    env = _compose()["services"]["gateway"]["environment"]
    unknown = {key for key in env if key.startswith("GATEWAY_")} - fields
    assert not unknown, f"docker-compose sets settings that do not exist: {unknown}"


def test_required_variables_are_documented() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^(\w+)=", example, flags=re.M))
    assert required <= documented, f"undocumented required variables: {required - documented}"
