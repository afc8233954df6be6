"""Export and report requests, and the job document the API returns. Times are epoch ms or RFC 3339."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field, computed_field, model_validator

from gateway.devices.schemas import DEVICE_ID_PATTERN, TagKey, TagValue
from gateway.exports.models import Kind, Status
from gateway.ingest.validate import METRIC_NAME
from gateway.storage.base import Aggregate

Format = Literal["csv", "parquet", "jsonl"]
DeviceId = Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]
Metric = Annotated[str, Field(pattern=f"^{METRIC_NAME.pattern}$")]
Moment = Annotated[int | AwareDatetime, Field(description="epoch milliseconds or an RFC 3339 time with offset")]


class ExportIn(BaseModel):
    """Which devices (by id, or every device of the tenant whose tags match), metrics and range, in what format."""

    model_config = ConfigDict(extra="forbid")

    device_ids: list[DeviceId] | None = Field(None, min_length=1)
    tag: dict[TagKey, TagValue] | None = Field(None, min_length=1, description="all must match")
    metrics: list[Metric] = Field(min_length=1, max_length=64)
    start: Moment
    end: Moment
    format: Format = "csv"
    every: str | None = Field(None, description="aggregation window: 30s, 5m, 1h, 1d or ms")
    agg: Aggregate | None = None
    webhook_url: AnyHttpUrl | None = Field(None, description="POSTed the job document when it finishes")

    @model_validator(mode="after")
    def _one_selector(self) -> ExportIn:
        if (self.device_ids is None) == (self.tag is None):
            raise ValueError("give either device_ids or tag")
        return self


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date | None = Field(None, description="the UTC day to summarise; default yesterday")
    webhook_url: AnyHttpUrl | None = None


class JobOut(BaseModel):
    id: str
    kind: Kind
    status: Status
    format: Format
    progress: float = Field(description="fraction of the range read, 0 to 1")
    rows_written: int
    error: str | None
    attempts: int
    request: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None
    size_bytes: int | None
    sha256: str | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def download_url(self) -> str | None:
        return f"/api/v1/exports/{self.id}/download" if self.status == Status.done else None


class JobPage(BaseModel):
    items: list[JobOut]
    limit: int
    offset: int
    next_offset: int | None
