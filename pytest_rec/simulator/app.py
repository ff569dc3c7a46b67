"""HTTP front of the simulated array: a Starlette app over ``Array``.

It answers the REST surface of CONTRACT section 1 under ``/api/v1``, with the reference's
error body, 401/404/405/413/415 handling and the injected faults of ``Settings``.

Routing is Starlette's ``Router`` (``Route`` with path parameters, no slash redirects); an
unknown path is 404 and a known path with another method 405 (with ``Allow``), both with the
JSON error body. Faults, the clock (``Array.tick``) and the 1,280-byte request-line limit (413,
fact sheet 1.1) come first, in ``SimulatorApp.__call__``, so they apply to every request.

An exception anywhere (a handler, the router, settling jobs) is a 500 with the JSON error body
(``Settings.json_500``, on by default; off, it is plain text as a proxy in front of an array might
answer), so a client never sees a 500 that the reference's error format does not describe.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .replies import ERRORS, Reply, error
from .array import Array
from .auth import LoginSession
from .replies import MESSAGE_NUMBERS

MAX_REQUEST_LINE = 1280

# handler name -> the query parameters it takes
_QUERY = {"session_get": {"fields"}, "copysession_list": {"fields", "copysession_id", "last_get_id", "max_records"},
          "copysession_get": {"fields"}, "job_get": {"fields"}}
_JSON_BODY = {"login", "copysession_patch"}
# path -> {method: handler name}
_PATHS = {
    "/api/v1/session": {"POST": "login"},
    "/api/v1/session/{id}": {"GET": "session_get", "DELETE": "session_delete"},
    "/api/v1/copysession": {"GET": "copysession_list"},
    "/api/v1/copysession/{id}": {"GET": "copysession_get", "PATCH": "copysession_patch"},
    "/api/v1/copysession/{id}/suspend": {"POST": "suspend"},
    "/api/v1/copysession/{id}/resume": {"POST": "resume"},
    "/api/v1/job/{id}": {"GET": "job_get"},
}


def _codes(body: Any, style) -> Any:
    """The body with every status-style ``error_code`` (``0400``) written in ``style``: a function of it."""
    if isinstance(body, list):
        return [_codes(v, style) for v in body]
    if not isinstance(body, dict):
        return body
    out = {k: _codes(v, style) for k, v in body.items()}
    code = out.get("error_code")
    if isinstance(code, str) and len(code) == 4 and code.isdigit():
        out["error_code"] = style(code)
    return out


def _style(status_codes: bool, hex_codes: bool):
    """How an error code is written: the fixed message number of the kind of error (the default; fact sheet
    2: "a fixed 4-digit message number", not the HTTP status), the status itself (``status_error_codes``),
    or hex like ``D184`` (``hex_error_codes``: ``0400`` -> ``D190``)."""
    def style(code: str) -> str:
        code = code if status_codes else MESSAGE_NUMBERS.get(code, code)
        return f"D{int(code) % 4096:03X}" if hex_codes else code
    return style


def _json_response(reply: Reply, status_codes: bool = True, hex_codes: bool = False) -> Response:
    if hex_codes or not status_codes:
        reply = Reply(reply.status, _codes(reply.body, _style(status_codes, hex_codes)), reply.headers)
    content = b"" if reply.body is None else json.dumps(reply.body).encode()
    headers = dict(reply.headers)
    media = "application/json" if reply.body is not None else None
    return Response(content, status_code=reply.status, headers=headers, media_type=media)


def _is_json(content_type: str | None) -> bool:
    return bool(content_type) and content_type.split(";")[0].strip().lower() == "application/json"


class ErrorReplies:
    """Mixin of ``SimulatorApp``: the answers to errors outside a handler (no route, a wrong method, a
    crash), each with the reference's error body. Uses ``self.array``."""

    async def _http_error(self, request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            reply = error(405, request.method)
            reply.headers["Allow"] = ", ".join(sorted((exc.headers or {}).get("Allow", "").split(", ")))
        else:
            reply = error(exc.status_code if exc.status_code in ERRORS else 500, "path")
        self.array.log(request.method, request.url.path, None, reply.status)
        return self._respond(reply)

    def _respond(self, reply: Reply) -> Response:
        st = self.array.settings
        return _json_response(reply, st.status_error_codes, st.hex_error_codes)

    async def _crash(self, request: Request, exc: Exception) -> Response:
        return self._internal_error(request.method, request.url.path)

    def _internal_error(self, method: str, path: str) -> Response:
        """An unhandled "firmware" error: a 500 with the JSON error body (fact sheet 2), or plain text
        when ``json_500`` is off (as a proxy in front of an array might answer)."""
        self.array.log(method, path, None, 500)
        if self.array.settings.json_500:
            return self._respond(error(500, "internal"))
        return Response(b"Internal Server Error", status_code=500, media_type="text/plain")


class SimulatorApp(ErrorReplies):
    """ASGI app: faults and the request-line limit first, then Starlette's router."""

    def __init__(self, array: Array):
        self.array = array
        routes = []
        for path, methods in _PATHS.items():
            route = Route(path, self._endpoint(methods), methods=list(methods))
            route.methods.discard("HEAD")           # only the methods of CONTRACT section 1
            routes.append(route)
        self.routed = Starlette(routes=routes, exception_handlers={HTTPException: self._http_error,
                                                                    Exception: self._crash})
        self.routed.router.redirect_slashes = False

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return None
        fault = self.array.fault_for_request()
        if self.array.settings.latency:
            await asyncio.sleep(self.array.settings.latency)
        if fault == "drop":
            self.array.log(scope["method"], scope["path"], None, 0)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ConnectionAbortedError("simulated dropped connection")
        if fault == "busy":
            self.array.log(scope["method"], scope["path"], None, 503)
            return await self._respond(self.array.busy())(scope, receive, send)
        if self.array.server_error_for(scope["method"], scope["path"]):
            self.array.log(scope["method"], scope["path"], None, 500)
            return await self._respond(error(500, "injected fault"))(scope, receive, send)
        raw = scope.get("raw_path") or scope["path"].encode()
        qs = scope.get("query_string") or b""
        line = len(scope["method"]) + 1 + len(raw) + (1 + len(qs) if qs else 0) + len(" HTTP/") \
            + len(scope.get("http_version", "1.1"))
        if line > MAX_REQUEST_LINE:
            self.array.log(scope["method"], scope["path"], None, 413)
            return await self._respond(error(413, "request line"))(scope, receive, send)
        try:
            self.array.tick()
        except Exception:                       # a job that crashed while settling: still the error body
            return await self._internal_error(scope["method"], scope["path"])(scope, receive, send)
        if self.array.reply_lost(scope["method"]):
            async def lost(message):            # the change is taken; its answer never leaves
                return None
            await self.routed(scope, receive, lost)
            self.array.log(scope["method"], scope["path"], None, 0)
            await send({"type": "http.response.start", "status": 200, "headers": []})   # then the line drops
            raise ConnectionAbortedError("simulated reply lost after the change was taken")
        return await self.routed(scope, receive, send)

    # ------------------------------------------------------------- the handlers
    def _endpoint(self, methods: dict[str, str]):
        async def endpoint(request: Request) -> Response:
            try:
                reply, caller = await self._handle(methods[request.method], request)
            except Exception:
                return self._internal_error(request.method, request.url.path)
            self.array.log(request.method, request.url.path, caller.user.name if caller else None,
                           reply.status)
            return self._respond(reply)
        return endpoint

    async def _handle(self, name: str, request: Request) -> tuple[Reply, LoginSession | None]:
        array = self.array
        path, method = request.url.path, request.method
        unknown = set(request.query_params.keys()) - _QUERY.get(name, set())
        if unknown:
            return error(400, sorted(unknown)[0]), None
        fields = None
        if "fields" in request.query_params:
            fields = [f for f in request.query_params["fields"].split(",") if f]

        caller = None
        if name != "login":
            caller = array.authenticate(request.headers.get("authorization"))
            if caller is None:
                return error(401, "token"), None

        ident = None
        if "id" in request.path_params:
            text = request.path_params["id"]
            if name == "copysession_patch" and array.defect("bad-id-500") and \
                    not (text.isdigit() and int(text) < 2**32):  # pragma: no mutate block, defect injection
                raise RuntimeError(f"copysession_id {text!r}")    # an unhandled firmware exception
            if name == "copysession_patch" and array.defect("bad-id-truncated"):  # pragma: no mutate block, defect injection
                digits = re.match(r"\d*", text).group()             # 1.5 reads as 1, 2**32 + 1 as 1
                text = str(int(digits) % 2**32) if digits else text
            try:
                ident = int(text)
            except ValueError:
                return error(400, "path"), caller

        body: Any = None
        raw = b""
        if name in _JSON_BODY:
            raw = await request.body()
            if not _is_json(request.headers.get("content-type")) and not (
                    name == "copysession_patch" and array.defect("content-type-ignored")):
                return error(415, "Content-Type"), caller
            try:
                body = json.loads(raw.decode("utf-8")) if raw else None
            except (UnicodeDecodeError, ValueError):
                return error(400, "body"), caller

        if name == "login":
            return array.login(body), None
        assert caller is not None
        desc = f"{method} {path}" + (f" {raw.decode('utf-8', 'replace')}" if raw else "")
        if name == "session_get":
            return array.session_info(caller, ident), caller
        if name == "session_delete":
            return array.logout(caller, ident), caller
        if name == "copysession_list":
            q = request.query_params
            ids = None
            if "copysession_id" in q:
                try:
                    ids = {int(x) for x in q["copysession_id"].split(",") if x}
                except ValueError:
                    return error(400, "copysession_id"), caller
            paging: dict[str, int] = {}
            for key in ("last_get_id", "max_records"):
                if key in q:
                    try:
                        paging[key] = int(q[key])
                    except ValueError:
                        return error(400, key), caller
                    if paging[key] < (1 if key == "max_records" else 0):
                        return error(400, key), caller
            return array.list_copysessions(caller, ids, fields, query=dict(q), **paging), caller
        if name == "copysession_get":
            return array.get_copysession(caller, ident, fields), caller
        if name == "copysession_patch":
            return array.patch(caller, ident, body, desc), caller
        if name == "suspend":
            return array.suspend(caller, ident, desc), caller
        if name == "resume":
            return array.resume(caller, ident, desc), caller
        if name == "job_get":
            return array.get_job(caller, ident), caller
        raise AssertionError(name)


def create_app(array: Array | None = None) -> SimulatorApp:
    return SimulatorApp(array or Array())
