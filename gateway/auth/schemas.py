"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from gateway.devices.schemas import DEVICE_ID_PATTERN
from gateway.users.models import Role


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class RefreshIn(BaseModel):
    refresh_token: str


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="seconds until the access token expires")


class DeviceTokenIn(BaseModel):
    device_id: str = Field(pattern=DEVICE_ID_PATTERN)
    secret: str = Field(min_length=1, max_length=1024)
    ttl_s: int | None = Field(None, gt=0, description="default 1 h, at most GATEWAY_DEVICE_TOKEN_MAX_TTL_S")


class DeviceToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int


class Me(BaseModel):
    user_id: str
    username: str
    tenant_id: str
    role: Role
