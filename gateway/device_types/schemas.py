"""The device-type document: one rule per metric, which the ingestion validator applies to every reading."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MetricName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    unit: str | None = Field(None, max_length=32)


class NumberRule(_Rule):
    kind: Literal["number", "integer"]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class BoolRule(_Rule):
    kind: Literal["bool"]


class StringRule(_Rule):
    kind: Literal["string"]
    max_length: int | None = Field(None, gt=0)


MetricRule = Annotated[NumberRule | BoolRule | StringRule, Field(discriminator="kind")]


class MetricSchema(BaseModel):
    """What a device's readings may hold: the rules of its type, shared (frozen) with the ingestion side."""

    model_config = ConfigDict(frozen=True)

    metrics: dict[MetricName, MetricRule] = Field(default_factory=dict, max_length=256)
    allow_unknown_metrics: bool = True


class DeviceTypeIn(MetricSchema):
    name: str = Field(pattern=NAME_PATTERN)


class DeviceTypeOut(DeviceTypeIn):
    created_at: datetime
    updated_at: datetime
