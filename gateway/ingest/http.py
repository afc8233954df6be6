"""The HTTP front door: ``POST /api/v1/readings`` with a device token.

It only authenticates, bounds and decodes the body, and hands the document to ``accept``; the 202 goes out once
the valid readings are in the durable spool. Most requests a gateway serves are this one, so ``ReadingsFastPath``
(an ASGI middleware) takes it before FastAPI's router and dependency solving, which cost about a third of a
single-reading request. The route below is the same code behind ``CurrentDevice``; it documents the endpoint in
OpenAPI and serves an app mounted without the middleware.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import errors
from gateway.deps import CurrentDevice
from gateway.devices.auth import DeviceAuthenticator, DevicePrincipal
from gateway.ingest.accept import accept
from gateway.ingest.pipeline import Pipeline, SpoolFull
from gateway.ingest.validate import MalformedDocument, UnsupportedMediaType, parse_body

router = APIRouter(tags=["ingestion"])
PATH = "/api/v1/readings"

_EXAMPLE = {"readings": [{"ts": 1764320000123, "values": {"temperature": 21.5, "humidity": 40.2}}]}
_REPLY = {"accepted": 1, "rejected": [{"index": 1, "errors": ["values.temperature: 130.0 is above the maximum 125"]}]}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise errors.PayloadTooLarge(f"the body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.PayloadTooLarge(f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/readings",
    status_code=202,
    summary="Push one reading or a batch (JSON or SenML) as the device the token names",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"example": _EXAMPLE},
                "application/senml+json": {"example": [{"bn": "dev-1:", "n": "temperature", "u": "Cel", "v": 21.5}]},
            },
        }
    },
    responses={
        202: {
            "description": "Accepted (the valid part is durably spooled)",
            "content": {"application/json": {"example": _REPLY}},
        },
        400: {"description": "Malformed JSON"},
        401: {"description": "No, bad or revoked device token"},
        413: {"description": "Body too large"},
        415: {"description": "Not application/json or application/senml+json"},
        422: {"description": "No reading was valid (per-reading errors in `errors`)"},
        503: {"description": "Spool full (backpressure); retry after `Retry-After`"},
    },
)
async def post_readings(request: Request, device: CurrentDevice) -> Response:
    return await ingest(request, device)


async def ingest(request: Request, device: DevicePrincipal) -> Response:
    state = request.app.state
    pipeline: Pipeline = state.pipeline
    body = await _read_body(request, state.settings.max_body_bytes)
    try:
        document, kind = parse_body(body, request.headers.get("content-type", ""))
    except UnsupportedMediaType as exc:
        raise errors.UnsupportedMediaType(str(exc)) from None
    except MalformedDocument as exc:
        raise errors.BadRequest(str(exc)) from None
    try:
        result = await accept(pipeline, device, document, kind=kind, limits=state.limits, transport="http")
    except SpoolFull as exc:
        raise errors.ServiceUnavailable(
            f"the gateway is buffering too much unconfirmed data ({exc}); retry later",
            retry_after=pipeline.retry_after_s(),
        ) from None
    if result.accepted == 0:
        detail = "; ".join(result.document_errors) or "no reading in the document was valid"
        rejected: list[dict[str, Any]] = [r.to_json() for r in result.rejected]
        raise errors.Unprocessable(detail, errors=rejected or [{"errors": result.document_errors}])
    return Response(orjson.dumps(result.to_json()), status_code=202, media_type="application/json")


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, as FastAPI's ``HTTPBearer`` reads it."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


class ReadingsFastPath:
    """``POST /api/v1/readings`` straight to ``ingest``; every other request goes on to FastAPI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            token = bearer_token(request)
            if token is None:
                raise errors.Unauthorized("a device token is required")
            device_auth: DeviceAuthenticator = request.app.state.device_auth
            response = await ingest(request, await device_auth.authenticate(token))
        except errors.GatewayError as exc:
            response = errors.problem_for(exc)
        except Exception as exc:
            response = errors.unexpected(exc)
        await response(scope, receive, send)
