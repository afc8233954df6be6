"""Routes of /api/v1/exports (and /api/v1/reports, which queues a report job). Routes only; see service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse

from gateway.deps import CurrentUser, SessionDep, SettingsDep
from gateway.exports import service
from gateway.exports.models import Kind
from gateway.exports.queue import JobQueue
from gateway.exports.schemas import ExportIn, JobOut, JobPage, ReportIn

router = APIRouter(tags=["exports"])


async def _queue(request: Request) -> JobQueue:
    queue: JobQueue = request.app.state.job_queue
    return queue


QueueDep = Annotated[JobQueue, Depends(_queue)]


def _accepted(request: Request, response: Response, job: JobOut) -> JobOut:
    response.headers["Location"] = str(request.url_for("get_export", job_id=job.id))
    return job


@router.post("/exports", status_code=status.HTTP_202_ACCEPTED)
async def create_export(
    body: ExportIn,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    queue: QueueDep,
    request: Request,
    response: Response,
) -> JobOut:
    """Queue an export of a range of readings; follow ``Location`` for its status and, when done, its file."""
    return _accepted(request, response, await service.submit_export(session, queue, settings, user, body))


@router.post("/reports", status_code=status.HTTP_202_ACCEPTED)
async def create_report(
    body: ReportIn,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    queue: QueueDep,
    request: Request,
    response: Response,
) -> JobOut:
    """Queue the daily summary (count, min, mean, max per device and metric) of one UTC day, now."""
    return _accepted(request, response, await service.submit_report(session, queue, settings, user, body))


@router.get("/exports")
async def list_exports(
    user: CurrentUser,
    session: SessionDep,
    kind: Kind | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JobPage:
    """The tenant's export and report jobs, newest first."""
    return await service.list_jobs(session, user, kind=kind, limit=limit, offset=offset)


@router.get("/exports/{job_id}")
async def get_export(job_id: str, user: CurrentUser, session: SessionDep) -> JobOut:
    return await service.get(session, user, job_id)


@router.get(
    "/exports/{job_id}/download",
    response_class=FileResponse,
    responses={409: {"description": "not done yet"}, 410: {"description": "the file expired"}},
)
async def download_export(job_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> FileResponse:
    found = await service.download(session, settings, user, job_id)
    return FileResponse(found.path, media_type=found.media_type, filename=found.filename)


@router.delete(
    "/exports/{job_id}",
    response_model=JobOut,
    responses={204: {"description": "a finished job and its file deleted"}},
)
async def cancel_export(job_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> Response:
    """Cancel a queued or running job (200, the job), or delete a finished one and its file (204)."""
    job = await service.cancel_or_delete(session, settings, user, job_id)
    if job is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return JSONResponse(job.model_dump(mode="json"))
