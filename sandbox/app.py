"""The sandbox's Starlette app: PhantomBuster API v2 routes over a Simulator, plus /__sandbox control routes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sandbox import views
from sandbox.faults import CallFaults, FaultError
from sandbox.models import ApiError
from sandbox.simulator import Simulator

PREFIX = "/api/v2/"
Handler = Callable[[Simulator, Request], Awaitable[Response]]
FINISH_WAIT_SECONDS = 10.0
FLAGS = ("withResultObject", "withOutput", "withRuntimeEvents", "withNewerAndOlderContainerId")


def error_response(exc: ApiError) -> JSONResponse:
    """PhantomBuster's error shape, with Retry-After when the error carries one."""
    headers = {}
    if exc.retry_after is not None:
        value = exc.retry_after
        headers["Retry-After"] = str(int(value)) if float(value).is_integer() else f"{value:g}"
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The body is not valid JSON.", "invalidBody") from None


def _object_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.", "invalidBody")
    return body


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("true", "1", "yes")


def _int_param(request: Request, name: str, default: int | None) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(float(value))
    except ValueError:
        raise ApiError(400, f"{name} must be a number.", "invalidParameters") from None


# -- API handlers (each returns a response or raises ApiError) ------------------------------------------


async def launch(sim: Simulator, request: Request) -> Response:
    body = await _json_body(request)
    container_id = sim.launch(body, base_url=str(request.base_url))
    request.state.container_id = container_id
    return JSONResponse({"containerId": container_id})


async def agent_fetch(sim: Simulator, request: Request) -> Response:
    return JSONResponse(views.agent_json(sim, sim.get_agent(request.query_params.get("id"))))


async def agent_fetch_all(sim: Simulator, request: Request) -> Response:
    ids = [i for v in request.query_params.getlist("agentIds") for i in v.split(",") if i]
    return JSONResponse(views.agents_json(sim, ids or None, _flag(request, "withArgument")))


async def agent_save(sim: Simulator, request: Request) -> Response:
    return JSONResponse({"id": sim.save_agent(_object_body(await _json_body(request)))})


async def agent_stop(sim: Simulator, request: Request) -> Response:
    sim.stop_agent(_object_body(await _json_body(request)))
    return JSONResponse({})


async def agent_output(sim: Simulator, request: Request) -> Response:
    q = request.query_params
    try:
        pos = _int_param(request, "fromOutputPos", None)
    except ApiError:
        raise ApiError(400, "Invalid output position provided.", "invalidOutputPosition") from None
    return JSONResponse(views.agent_output_json(sim, q.get("id", ""), pos, q.get("prevContainerId")))


async def container_fetch(sim: Simulator, request: Request) -> Response:
    c = sim.get_container(request.query_params.get("id"))
    request.state.container_id = c.id
    status = "unknown" if sim.take_unknown_status(c) else None
    return JSONResponse(views.container_json(sim, c, {name: _flag(request, name) for name in FLAGS}, status))


async def container_result(sim: Simulator, request: Request) -> Response:
    c = sim.get_container(request.query_params.get("id"))
    request.state.container_id = c.id
    return JSONResponse({"resultObject": c.result_object})


async def container_output(sim: Simulator, request: Request) -> Response:
    c = sim.get_container(request.query_params.get("id"))
    request.state.container_id = c.id
    with sim.lock:
        text = views.output_text(c)
    if not text:
        return Response(status_code=204)
    if request.query_params.get("mode") == "raw":
        return PlainTextResponse(text)
    return JSONResponse({"output": text})


async def container_fetch_all(sim: Simulator, request: Request) -> Response:
    agent_id = request.query_params.get("agentId")
    if not agent_id:
        raise ApiError(400, "agentId is required.", "invalidParameters")
    limit = max(1, min(1000, _int_param(request, "limit", 100) or 100))
    mode = request.query_params.get("mode", "all")
    if mode not in ("all", "finalized"):
        raise ApiError(400, 'mode must be "all" or "finalized".', "invalidParameters")
    before = _int_param(request, "beforeEndedAt", None)
    events = _flag(request, "withRuntimeEvents")
    return JSONResponse(views.containers_json(sim, agent_id, limit, mode, before, events))


async def org_fetch(sim: Simulator, request: Request) -> Response:
    return JSONResponse(views.org_json(sim))


async def org_resources(sim: Simulator, request: Request) -> Response:
    return JSONResponse(views.resources_json(sim))


async def org_running(sim: Simulator, request: Request) -> Response:
    return JSONResponse(views.running_containers_json(sim))


API: dict[str, tuple[str, Handler]] = {
    "agents/launch": ("POST", launch),
    "agents/fetch": ("GET", agent_fetch),
    "agents/fetch-all": ("GET", agent_fetch_all),
    "agents/save": ("POST", agent_save),
    "agents/stop": ("POST", agent_stop),
    "agents/fetch-output": ("GET", agent_output),
    "containers/fetch": ("GET", container_fetch),
    "containers/fetch-result-object": ("GET", container_result),
    "containers/fetch-output": ("GET", container_output),
    "containers/fetch-all": ("GET", container_fetch_all),
    "orgs/fetch": ("GET", org_fetch),
    "orgs/fetch-resources": ("GET", org_resources),
    "orgs/fetch-running-containers": ("GET", org_running),
}


def _api_key(request: Request) -> str | None:
    h = request.headers
    return h.get("x-phantombuster-key") or h.get("x-phantombuster-key-1") or request.query_params.get("key")


async def _serve(sim: Simulator, request: Request, endpoint: str) -> Response:
    if not sim.check_key(_api_key(request)):
        return error_response(ApiError(401, "Missing or invalid API key.", "invalidApiKey"))
    route = API.get(endpoint)
    if route is None:
        return error_response(ApiError(404, f"Unknown endpoint: {endpoint}.", "notFound"))
    if request.method != route[0]:
        return error_response(ApiError(405, f"{endpoint} only accepts {route[0]}.", "methodNotAllowed"))
    faults = sim.call_faults(endpoint)
    if faults.hang_before:
        # PhantomBuster received the whole request and processes it late: a client that stops waiting (a timeout)
        # does not take the request back. So the body is read now and the held request still runs to the end.
        await request.body()
        await asyncio.sleep(faults.hang_before)
    response = await _answer(sim, request, endpoint, route[1], faults)
    if faults.hang_after:
        await asyncio.sleep(faults.hang_after)
    return response


async def _answer(sim: Simulator, request: Request, endpoint: str, handler: Handler, faults: CallFaults) -> Response:
    launching = endpoint == "agents/launch"
    if faults.rate_limited:
        if launching:
            sim.note_rejected_launch("rateLimited")
        return error_response(ApiError(429, "Too many requests, slow down.", "rateLimited", faults.retry_after))
    if faults.error_500 == "before":
        if launching:
            sim.note_rejected_launch("error500")
        return error_response(ApiError(500, "Internal server error.", "internalError"))
    try:
        response = await handler(sim, request)
    except ApiError as exc:
        response = error_response(exc)
    if faults.error_500 == "after":
        response = error_response(ApiError(500, "Internal server error.", "internalError"))
    return response


# -- control routes (no key: the sandbox listens on loopback) ---------------------------------------------


async def control_faults(sim: Simulator, request: Request) -> Response:
    if request.method == "POST":
        try:
            return JSONResponse(sim.set_faults(await _json_body(request)))
        except FaultError as exc:
            raise ApiError(400, str(exc), "invalidFaults") from None
    with sim.lock:
        return JSONResponse(dict(sim.faults))


async def control_reset(sim: Simulator, request: Request) -> Response:
    sim.reset()
    return JSONResponse({"ok": True})


async def control_finish(sim: Simulator, request: Request) -> Response:
    body = await _json_body(request)
    container_id = body.get("containerId") if isinstance(body, dict) else None
    finished = sim.finish(str(container_id) if container_id else None)
    # A container still downloading its sheet ends when the download is done: answer once they all ended.
    deadline = asyncio.get_running_loop().time() + FINISH_WAIT_SECONDS
    while any(sim.is_active(cid) for cid in finished) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    return JSONResponse({"finished": finished})


async def control_sheets(sim: Simulator, request: Request) -> Response:
    raw = await request.body()
    if len(raw) > sim.faults["sheet_max_bytes"]:
        raise ApiError(413, "The sheet is bigger than sheet_max_bytes.", "tooBig")
    sheet_id = sim.host_sheet(raw.decode("utf-8-sig", errors="replace"))
    url = f"{str(request.base_url).rstrip('/')}/__sandbox/sheets/{sheet_id}.csv"
    return JSONResponse({"id": sheet_id, "url": url})


async def hosted_sheet(sim: Simulator, request: Request) -> Response:
    name = request.path_params["name"]
    with sim.lock:
        text = sim.hosted_sheets.get(name.removesuffix(".csv")) if name.endswith(".csv") else None
    if text is None:
        return PlainTextResponse("Not found", status_code=404)
    return Response(text, media_type="text/csv; charset=utf-8")


async def storage_file(sim: Simulator, request: Request) -> Response:
    p = request.path_params
    found = views.result_file_text(sim, p["org"], p["agent"], p["name"])
    if found is None:  # S3 answers 403 for a file it does not have
        return PlainTextResponse("AccessDenied", status_code=403)
    text, media_type = found
    return Response(text, media_type=f"{media_type}; charset=utf-8")


async def control_record(sim: Simulator, request: Request) -> Response:
    return JSONResponse(sim.record_json())


async def control_health(sim: Simulator, request: Request) -> Response:
    return JSONResponse({"ok": True, "running": len(sim.active)})


def create_app(sim: Simulator) -> Starlette:
    """The ASGI app serving `sim`; timers and webhooks run on the server's event loop."""

    async def api(request: Request) -> Response:
        # Shielded: a request being processed is not abandoned when its client hangs up, as on a real server.
        return await asyncio.shield(asyncio.ensure_future(handle(request)))

    async def handle(request: Request) -> Response:
        endpoint = request.path_params["endpoint"].strip("/")
        request.state.container_id = None
        try:
            response = await _serve(sim, request, endpoint)
        except ApiError as exc:  # raised before the handler ran (e.g. bad query)
            response = error_response(exc)
        container_id = request.state.container_id
        if container_id is None and endpoint.startswith("containers/"):
            container_id = request.query_params.get("id")
        sim.record_call(request.method, request.url.path, response.status_code, container_id)
        return response

    def control(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(sim, request)
            except ApiError as exc:
                return error_response(exc)

        return endpoint

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        for part in (sim.scheduler, sim.sender, sim.sheets):
            bind = getattr(part, "bind", None)
            if callable(bind):
                bind(loop)
        yield
        sim.shutdown()
        for part in (sim.sender, sim.sheets):
            close = getattr(part, "aclose", None)
            if callable(close):
                await close()

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [
        Route("/api/v2/{endpoint:path}", api, methods=methods),
        Route("/__sandbox/faults", control(control_faults), methods=["GET", "POST"]),
        Route("/__sandbox/reset", control(control_reset), methods=["POST"]),
        Route("/__sandbox/finish", control(control_finish), methods=["POST"]),
        Route("/__sandbox/record", control(control_record), methods=["GET"]),
        Route("/__sandbox/health", control(control_health), methods=["GET"]),
        Route("/__sandbox/sheets", control(control_sheets), methods=["POST"]),
        Route("/__sandbox/sheets/{name}", control(hosted_sheet), methods=["GET"]),
        # The result files, where the `{csvUrl, jsonUrl}` result objects point (public, as S3 links are).
        Route(views.STORAGE_ROUTE + "/{org}/{agent}/{name}", control(storage_file), methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sim = sim
    return app
