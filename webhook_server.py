"""The webhook server: PhantomBuster completion webhooks, the status API, health and metrics (a thin edge)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from core import status, webhooks
from core.config import WEBHOOK_PATH, Settings
from core.db import Database
from core.doorbell import Doorbell
from core.errors import InvalidInput
from core.lifecycle import batches
from core.metrics import WebhookMetrics
from core.models import utcnow

log = logging.getLogger("leadrelay.webhook")


@dataclass
class RateLimiter:
    """A token bucket per client: `per_minute` requests a minute, with bursts up to that number."""

    per_minute: int
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, key: str, now: float | None = None) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        tokens, last = self.buckets.get(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * rate)
        if tokens >= 1.0:
            self.buckets[key] = (tokens - 1.0, now)
            return 0.0
        self.buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate


async def _read_capped(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: Settings, db: Database, doorbell: Doorbell) -> Starlette:
    """The ASGI app: it records and rings, and never calls PhantomBuster itself."""
    metrics = WebhookMetrics(db, settings.expected_run_seconds)
    limiter = RateLimiter(settings.status_rate_limit_per_minute)
    secrets = settings.webhook_secrets
    status_token = settings.effective_status_token

    async def phantombuster_webhook(request: Request) -> Response:
        started = time.perf_counter()
        try:
            if not webhooks.secret_matches(request.query_params.get("secret"), secrets):
                metrics.deliveries.labels("unauthorized").inc()
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            body = await _read_capped(request, settings.webhook_max_body_bytes)
            if body is None:
                metrics.deliveries.labels("too_large").inc()
                return JSONResponse({"error": "body too large"}, status_code=413)
            try:
                payload = webhooks.parse_payload(body)
            except InvalidInput as exc:
                metrics.deliveries.labels("invalid").inc()
                return JSONResponse({"error": exc.message}, status_code=400)
            # One small write on the event loop: SQLite writes stay serialised and quick.
            with db.write() as session:
                recorded = webhooks.receive(session, payload)
            if recorded.ring:
                doorbell.delivery(payload.container_id)
            metrics.deliveries.labels("accepted" if recorded.new_body else "duplicate").inc()
            return JSONResponse({"ok": True, "duplicate": not recorded.new_body})
        finally:
            metrics.latency.observe(time.perf_counter() - started)

    async def phantom_status(request: Request) -> Response:
        # Rate-limited before the token is looked at, so guessing tokens is as slow as asking with the right one.
        client = request.client.host if request.client else "unknown"
        wait = limiter.allow(client)
        if wait > 0:
            return JSONResponse(
                {"error": "rate limited"}, status_code=429, headers={"Retry-After": str(max(1, math.ceil(wait)))}
            )
        given = request.headers.get("authorization", "")
        token = given[7:] if given.lower().startswith("bearer ") else ""
        if not status_token or not webhooks.secret_matches(token, [status_token]):
            return JSONResponse({"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        with db.read() as session:
            body = status.phantom_status(session, settings)
        return JSONResponse(body)

    async def batch_csv(request: Request) -> Response:
        # The token is the secret: it is never logged (access logs are off) and any unknown token is a plain 404.
        with db.write() as session:
            body = batches.serve(
                session,
                request.path_params["token"],
                now=utcnow(),
                margin_seconds=settings.batch_url_margin_seconds,
            )
        if body is None:
            return PlainTextResponse("not found", status_code=404)
        return Response(body, media_type="text/csv; charset=utf-8", headers={"Cache-Control": "no-store"})

    async def healthz(request: Request) -> Response:
        try:
            with db.read() as session:
                status.slot_view(session)
        except Exception as exc:  # noqa: BLE001 - health reports the failure instead of raising it
            return JSONResponse({"ok": False, "database": str(exc)[:200]}, status_code=503)
        return JSONResponse({"ok": True})

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def not_found(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("not found", status_code=404)

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, phantombuster_webhook, methods=["POST"]),
            Route("/api/phantom_buster/status", phantom_status, methods=["GET"]),
            Route(batches.PATH_PREFIX + "{token}.csv", batch_csv, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
        ],
        exception_handlers={404: not_found},
    )


def main() -> None:
    """Run the server with uvicorn; access logs are off because PhantomBuster puts the secret in the URL."""
    import uvicorn

    from core.config import load_settings
    from core.doorbell import HueyDoorbell, build_huey
    from core.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    doorbell = HueyDoorbell(build_huey(settings))
    app = create_app(settings, Database(settings.effective_database_url), doorbell)
    uvicorn.run(app, host=settings.host, port=settings.webhook_port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
