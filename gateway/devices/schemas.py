"""The device document, as sent (create, replace, merge patch) and as returned."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from gateway.device_types.schemas import NAME_PATTERN

DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"  # safe in a URL path and as an MQTT topic level
TagKey = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")]
TagValue = Annotated[str, Field(min_length=1, max_length=256)]
Status = Literal["active", "disabled"]


class DeviceFields(BaseModel):
    """Everything PUT replaces (a missing optional field is reset) and PATCH may change."""

    device_id: str | None = Field(None, pattern=DEVICE_ID_PATTERN)
    name: str = Field(min_length=1, max_length=128)
    type: str | None = Field(None, pattern=NAME_PATTERN, description="the name of a device type, or null")
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=32)
    metadata: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True

    @field_validator("tags")
    @classmethod
    def _no_reserved_tag(cls, tags: dict[str, str]) -> dict[str, str]:
        if "device_id" in tags:
            raise ValueError("'device_id' is reserved: every reading is tagged with it already")
        return tags


class DeviceOut(DeviceFields):
    device_id: str
    status: Status
    secret_version: int
    created_at: datetime
    updated_at: datetime


class DeviceWithSecret(DeviceOut):
    secret: str = Field(description="shown once, at creation or rotation; the gateway keeps only a hash")


class DevicePage(BaseModel):
    items: list[DeviceOut]
    total: int
    limit: int
    offset: int
