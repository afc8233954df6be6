"""Server-Sent Events of validated readings: one device, or the caller's whole fleet (tenant-scoped).

Each event is ``event: reading`` with the hub's id and ``{"device_id", "ts", "values"}``; comments keep the
connection alive. A client resumes with ``Last-Event-ID`` (browsers send it when they reconnect) or ``?since=``
(the id a page was rendered at); when that is too old it gets ``event: resync`` and should reload its state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from gateway.deps import CurrentUser, SessionDep, SettingsDep
from gateway.devices import service as devices
from gateway.live.hub import Event, Hub, id_key

router = APIRouter(tags=["live"])
RETRY_MS = 2000
SEND_TIMEOUT_S = 30.0


async def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.live
    return hub


HubDep = Annotated[Hub, Depends(_hub)]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)]
Since = Annotated[str | None, Query(max_length=64, description="resume after this event id (as Last-Event-ID)")]


def _sse(event: Event) -> ServerSentEvent:
    return ServerSentEvent(data=event.data, event="reading", id=event.id)


async def stream(hub: Hub, tenant_id: str, device_id: str | None, after: str | None) -> AsyncIterator[ServerSentEvent]:
    """Replay what was missed after ``after``, then follow live; ends when the client falls behind."""
    subscriber = hub.subscribe(tenant_id, device_id)  # before the replay, so nothing falls between the two
    try:
        yield ServerSentEvent(comment="live", retry=RETRY_MS)
        seen = id_key(after) if after else None
        if after:
            replay = await hub.since(tenant_id, after)
            if replay is None:
                seen = None
                yield ServerSentEvent(data="{}", event="resync")
            for event in replay or ():
                seen = id_key(event.id)
                if device_id is None or event.device_id == device_id:
                    yield _sse(event)
        while (live := await subscriber.queue.get()) is not None:
            if seen is None or (id_key(live.id) or (0, 0)) > seen:
                yield _sse(live)
    finally:
        hub.unsubscribe(subscriber)


def _response(
    hub: Hub, heartbeat_s: float, tenant_id: str, device_id: str | None, after: str | None
) -> EventSourceResponse:
    return EventSourceResponse(
        stream(hub, tenant_id, device_id, after),
        ping=heartbeat_s,
        send_timeout=SEND_TIMEOUT_S,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/stream", response_class=EventSourceResponse)
async def fleet_stream(
    user: CurrentUser,
    session: SessionDep,
    hub: HubDep,
    settings: SettingsDep,
    last_event_id: LastEventId = None,
    since: Since = None,
) -> EventSourceResponse:
    """Every reading of the caller's tenant, live."""
    await session.close()  # the stream may last hours; it must not hold a database connection
    return _response(hub, settings.live_heartbeat_s, user.tenant_id, None, last_event_id or since)


@router.get("/devices/{device_id}/stream", response_class=EventSourceResponse)
async def device_stream(
    device_id: Annotated[str, Path(max_length=64)],
    user: CurrentUser,
    session: SessionDep,
    hub: HubDep,
    settings: SettingsDep,
    last_event_id: LastEventId = None,
    since: Since = None,
) -> EventSourceResponse:
    """The readings of one device of the caller's tenant, live (404 for any other device)."""
    await devices.get_visible(session, user, device_id)
    await session.close()
    return _response(hub, settings.live_heartbeat_s, user.tenant_id, device_id, last_event_id or since)
