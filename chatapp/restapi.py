"""The API Gateway REST API: /api/* through Chalice's LocalGateway, as `chalice local` does.

Chalice's LocalGateway matches the route and builds the event here, in the
server process; the `api_handler` function runs on a Lambda instance
(chatapp.instances). Events carry the client's address, and CORS answers go to
the site's own origins only. A function that raised or whose instance died is
answered as API Gateway answers a failed integration: 500 and
{"message": "Internal server error"}, nothing of the error itself.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from typing import Any

from aiohttp import web

from chatapp.instances import REST_FUNCTION, InvocationError, Invoker

log = logging.getLogger("chatapp.restapi")


class LocalOrigins:
    """The site's own origins: the host and port served, as 127.0.0.1 and as localhost.

    Only these get CORS answers from /api, and only these (or no Origin at all,
    as from a script) may open /ws: any other page the developer visits could
    otherwise sign up and read every local room.
    """

    def __init__(self) -> None:
        self.allowed: frozenset[str] = frozenset()

    def serve(self, host: str, port: int) -> None:
        """Allow the site's origins once the port is known (it may have been 0)."""
        hosts = {"127.0.0.1", "localhost"}
        if host not in ("0.0.0.0", "::", ""):
            hosts.add(f"[{host}]" if ":" in host else host)
        self.allowed = frozenset(f"http://{name}:{port}" for name in hosts)

    def allows(self, origin: str) -> bool:
        """Whether `origin` is one of the site's own."""
        return origin in self.allowed


class RestAPI:
    """The REST API's stage: each /api/* request becomes the `api_handler` function's event."""

    def __init__(self, app: Any, functions: Invoker, origins: LocalOrigins) -> None:
        self._gateway = _chalice_local_gateway(app, functions)
        self._waiters = getattr(functions, "waiters", None)
        self._origins = origins

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one /api/* request as API Gateway would, CORS for the site's origins only."""
        from chalice.local import LocalGatewayException

        body = await request.read()
        path = "/" + request.match_info["tail"]
        if request.query_string:
            path += "?" + request.query_string
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(
                self._waiters,
                _handle_from,
                self._gateway,
                request.remote,
                request.method,
                path,
                dict(request.headers),
                body or None,
            )
        except LocalGatewayException as error:
            refused = web.Response(status=error.CODE, headers=error.headers, body=error.body)
            _local_cors(refused, request.headers.get("Origin"), self._origins)
            return refused
        except InvocationError:
            log.exception("%s %s: api_handler failed", request.method, request.path)
            failed = web.json_response({"message": "Internal server error"}, status=500)
            _local_cors(failed, request.headers.get("Origin"), self._origins)
            return failed
        headers = dict(answer.get("headers") or {})
        payload = answer.get("body")
        if answer.get("isBase64Encoded") and payload is not None:
            payload = base64.b64decode(payload)
        response = web.Response(status=answer["statusCode"], body=payload)
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            for value in values:
                response.headers.add(name, value)
        for name, value in headers.items():
            response.headers[name] = value
        response.headers.setdefault("Content-Type", "application/json")
        _local_cors(response, request.headers.get("Origin"), self._origins)
        return response


class _Routes:
    """The app as LocalGateway sees it: its routes here, its invocation on an instance."""

    def __init__(self, app: Any, functions: Invoker) -> None:
        self._app = app
        self._functions = functions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    def __call__(self, event: Any, context: Any) -> Any:
        return self._functions.invoke(REST_FUNCTION, event)


def _chalice_local_gateway(app: Any, functions: Invoker) -> Any:
    """Chalice's LocalGateway (chalice 1.34) whose events carry the client's address and
    whose function runs on `functions`."""
    from chalice.config import Config
    from chalice.local import LambdaEventConverter, LocalGateway, RouteMatcher

    gateway = LocalGateway(
        _Routes(app, functions),  # type: ignore[arg-type]
        Config(chalice_stage="local", function_name=REST_FUNCTION),
    )

    class PeerEvents(LambdaEventConverter):
        """API Gateway puts the socket peer in requestContext.identity.sourceIp; so do we."""

        def create_lambda_event(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            event = super().create_lambda_event(*args, **kwargs)
            peer = getattr(_request_peer, "address", None)
            if peer:
                event["requestContext"]["identity"]["sourceIp"] = peer
            return event

    # A plain attribute: built as LocalGateway builds its own (chalice 1.34).
    gateway.event_converter = PeerEvents(RouteMatcher(list(app.routes)), app.api.binary_types)
    return gateway


_request_peer = threading.local()  # the address of the request a waiting thread serves


def _handle_from(gateway: Any, peer: str | None, *request: Any) -> Any:
    """Run one request through the gateway with `peer` as the event's sourceIp."""
    _request_peer.address = peer
    try:
        return gateway.handle_request(*request)
    finally:
        _request_peer.address = None


def _local_cors(response: web.StreamResponse, origin: str | None, origins: LocalOrigins) -> None:
    """CORS for the site's own origins only; the handlers' `*` never leaves this server."""
    allowed = origin is not None and origins.allows(origin)
    for name in [n for n in response.headers if n.lower().startswith("access-control-")]:
        if not allowed:
            del response.headers[name]
        elif name.lower() == "access-control-allow-origin" and origin is not None:
            response.headers[name] = origin
    if allowed:
        response.headers["Vary"] = "Origin"
