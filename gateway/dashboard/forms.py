"""The device form: HTML fields to a ``DeviceFields`` document, and validation errors back to the fields."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from gateway.devices.schemas import DeviceFields, DeviceOut


@dataclass
class DeviceForm:
    device_id: str = ""
    name: str = ""
    type: str = ""
    tags: str = ""  # one key=value per line
    enabled: bool = True
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, device: DeviceOut) -> DeviceForm:
        tags = "\n".join(f"{k}={v}" for k, v in sorted(device.tags.items()))
        return cls(device.device_id, device.name, device.type or "", tags, device.enabled)

    @classmethod
    def read(cls, form: FormData) -> DeviceForm:
        def text(name: str) -> str:
            value = form.get(name)
            return value.strip() if isinstance(value, str) else ""

        return cls(text("device_id"), text("name"), text("type"), text("tags"), form.get("enabled") is not None)

    def parse_tags(self) -> dict[str, str]:
        tags: dict[str, str] = {}
        for number, line in enumerate(self.tags.splitlines(), 1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip() or not value.strip():
                self.errors["tags"] = f"line {number}: write each tag as key=value"
                break
            tags[key.strip()] = value.strip()
        return tags

    def validate(self, metadata: dict[str, Any] | None = None) -> DeviceFields | None:
        """The document, or None with ``errors`` filled in per field."""
        tags = self.parse_tags()
        if self.errors:
            return None
        document = {
            "device_id": self.device_id or None,
            "name": self.name,
            "type": self.type or None,
            "tags": tags,
            "metadata": metadata or {},
            "enabled": self.enabled,
        }
        try:
            return DeviceFields.model_validate(document)
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else "name"
                self.errors.setdefault(name, _message(name, error["msg"]))
            return None


def _message(name: str, message: str) -> str:
    if name == "device_id" and "pattern" in message:
        return "use letters, digits and . _ : - (up to 64, starting with a letter or digit)"
    if name == "tags":
        return "tag keys start with a letter or _ and use letters, digits, . _ -; 'device_id' is reserved"
    return message.removeprefix("Value error, ")


def firmware_config(device_id: str, secret: str, gateway_url: str) -> str:
    """The JSON the firmware reads (firmware/config.example.json), for this device."""
    config = {
        "device_id": device_id,
        "secret": secret,
        "gateway_url": gateway_url,
        "transport": "http",
        "wifi_ssid": "YOUR-WIFI-NAME",
        "wifi_password": "YOUR-WIFI-PASSWORD",
    }
    return json.dumps(config, indent=2)
