"""Liveness, readiness and Prometheus metrics: the endpoints an orchestrator and a scraper call."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from gateway.errors import PROBLEM_JSON

Check = Callable[[], Awaitable[None]]
"""A readiness probe: returns when the dependency answers, raises (with a reason) when it does not."""

CHECK_TIMEOUT_S = 3.0
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """200 while the process lives and its event loop turns."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 only when every configured dependency answers; 503 naming the ones that do not."""
    checks: dict[str, Check] = getattr(request.app.state, "checks", {})
    names = list(checks)
    results = await asyncio.gather(*(_run(checks[n]) for n in names))
    failing = {n: r for n, r in zip(names, results, strict=True) if r is not None}
    body = {
        "status": "ok" if not failing else "unavailable",
        "checks": {n: results[i] or "ok" for i, n in enumerate(names)},
    }
    if not failing:
        return JSONResponse(body)
    detail = "; ".join(f"{n}: {r}" for n, r in failing.items())
    problem = {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": detail, **body}
    return JSONResponse(problem, status_code=503, media_type=PROBLEM_JSON, headers={"Retry-After": "5"})


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Every worker's figures: with several uvicorn workers, each writes its own files and this merges them."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _run(check: Check) -> str | None:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_S:g}s"
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return None
