"""The REST edge: request bodies in, JSON out, domain errors as Chalice errors."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import chalice
from chalice import CORSConfig, Response

from chalicelib import (
    auth,
    clock,
    errors,
    functions,
    ids,
    moderation,
    protocol,
    revocation,
    rooms,
    settings,
)
from chalicelib.connections_api import ConnectionsAPI

F = TypeVar("F", bound=Callable[..., Any])


def cors_config() -> CORSConfig | bool:
    """CORS for every route: the stage's site origin (`*` only for local use)."""
    origin = settings.get().cors_origin
    return True if origin == "*" else CORSConfig(allow_origin=origin)


def _as_chalice_errors(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except errors.TooManyRequests as limited:
            # Chalice's TooManyRequestsError cannot carry Retry-After: the same body, by hand.
            return Response(
                body={"Code": limited.chalice_error, "Message": limited.message},
                status_code=limited.status,
                headers={"Retry-After": str(limited.retry_after or 1)},
            )
        except errors.ChatError as failure:
            raise getattr(chalice, failure.chalice_error)(failure.message) from None

    return wrapper  # type: ignore[return-value]


def source_ip(request: chalice.app.Request) -> str:
    """The client's address as API Gateway saw it (the request context, never a header)."""
    return str((request.context.get("identity") or {}).get("sourceIp") or "")


def function_name(request: chalice.app.Request) -> str:
    """The running REST function's deployed name: "{app}-{stage}", locally "api_handler".

    What Lambda puts in AWS_LAMBDA_FUNCTION_NAME, else what the Lambda context says.
    """
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or getattr(
        request.lambda_context, "function_name", None
    )
    return name if isinstance(name, str) and name else functions.REST_FUNCTION


def bearer_token(request: chalice.app.Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, or None."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


@_as_chalice_errors
def signup(request: chalice.app.Request) -> Response:
    """POST /signup → 201 with a session, 400, 409, or 429."""
    credentials = protocol.parse_credentials(request.raw_body)  # before anything else runs
    session = auth.signup(credentials, source_ip(request))
    return Response(body=session.to_wire(), status_code=201)


@_as_chalice_errors
def login(request: chalice.app.Request) -> dict[str, str]:
    """POST /login → 200 with a session, 400, 401, or 429 (a deviceToken may skip one limit)."""
    credentials = protocol.parse_credentials(request.raw_body)
    device = protocol.parse_device_token(request.raw_body)
    return auth.login(credentials, source_ip(request), device).to_wire()


@_as_chalice_errors
def refresh(request: chalice.app.Request, connections: ConnectionsAPI) -> dict[str, str]:
    """POST /refresh {"refreshToken"} → 200 with a new pair, or 401 (a reuse ends the session)."""
    try:
        return auth.refresh(protocol.parse_refresh(request.raw_body)).to_wire()
    except auth.SessionReused as reuse:
        if reuse.ended is not None:
            revocation.close_sessions(connections, [reuse.ended], function_name(request))
        raise


@_as_chalice_errors
def logout(request: chalice.app.Request, connections: ConnectionsAPI) -> Response:
    """POST /logout [{"everywhere": true}] → 204: sessions ended, their sockets closed; or 401."""
    everywhere = protocol.parse_logout(request.raw_body)
    ended = auth.logout(bearer_token(request), everywhere)
    revocation.close_sessions(connections, ended, function_name(request))
    return Response(body="", status_code=204)


def health() -> dict[str, str]:
    return {"status": "ok"}


@_as_chalice_errors
def rooms_list(request: chalice.app.Request) -> dict[str, Any]:
    """GET /rooms (Bearer) → the user's rooms with unread counts, or 401."""
    return {"rooms": rooms.user_rooms(auth.authenticate(bearer_token(request)).username)}


# ------------------------------------------ rooms, members, direct rooms (v3)


def _caller(request: chalice.app.Request, now_ms: int | None = None) -> str:
    """The authenticated user, judged at now_ms (the request's instant, when it needs one)."""
    now_s = None if now_ms is None else now_ms // 1000
    return auth.authenticate(bearer_token(request), now_s).username


def _body(request: chalice.app.Request) -> dict[str, Any]:
    body = protocol.parse_json(request.raw_body, "body")
    if not isinstance(body, dict):
        raise errors.InvalidInput("body must be a JSON object")
    return body


def _no_content() -> Response:
    return Response(body="", status_code=204)


@_as_chalice_errors
def create_room(request: chalice.app.Request) -> Response:
    """POST /rooms → 201 {"room", "kind", "role": "owner"}; 400, 401, 409."""
    now_ms = clock.now_ms()
    caller, body = _caller(request, now_ms), _body(request)
    created = moderation.create_room(caller, body, now_ms, ids.iso_utc(now_ms))
    return Response(body=created, status_code=201)


@_as_chalice_errors
def member(
    request: chalice.app.Request, connections: ConnectionsAPI, room: str, username: str
) -> Response:
    """PUT / DELETE /rooms/{room}/members/{username} → 204; 400, 401, 403, 404."""
    now_ms = clock.now_ms()
    caller = _caller(request, now_ms)
    if request.method == "PUT":
        moderation.add_member(caller, room, username, now_ms)
    else:
        moderation.remove_member(connections, caller, room, username)
    return _no_content()


@_as_chalice_errors
def moderator(request: chalice.app.Request, room: str, username: str) -> Response:
    """PUT / DELETE /rooms/{room}/moderators/{username} (owner only) → 204."""
    now_ms = clock.now_ms()
    caller = _caller(request, now_ms)
    moderation.set_moderator(caller, room, username, request.method == "PUT", now_ms)
    return _no_content()


@_as_chalice_errors
def direct_room(request: chalice.app.Request) -> dict[str, str]:
    """POST /dms → 200 {"room", "kind": "direct", "with"}; 400, 401, 403, 404."""
    now_ms = clock.now_ms()
    caller, body = _caller(request, now_ms), _body(request)
    return moderation.open_direct(caller, body, now_ms, ids.iso_utc(now_ms))


@_as_chalice_errors
def directory(request: chalice.app.Request) -> dict[str, Any]:
    """GET /directory?prefix=P → 200 {"rooms": [{"room", "online"}]}; 400, 401."""
    _caller(request)
    query = request.query_params
    return moderation.directory(query.get("prefix") if query is not None else None)


@_as_chalice_errors
def block(request: chalice.app.Request, username: str) -> Response:
    """PUT / DELETE /blocks/{username} → 204; 400, 401, 404."""
    now_ms = clock.now_ms()
    caller = _caller(request, now_ms)
    moderation.block(caller, username, request.method == "PUT", ids.iso_utc(now_ms))
    return _no_content()


@_as_chalice_errors
def blocks(request: chalice.app.Request) -> dict[str, list[str]]:
    """GET /blocks → 200 {"blocked": [...]}."""
    return moderation.blocked(_caller(request))


@_as_chalice_errors
def report(request: chalice.app.Request) -> Response:
    """POST /reports → 201 (200 for a repeat); 400, 401, 403, 404."""
    now_ms = clock.now_ms()
    caller, body = _caller(request, now_ms), _body(request)
    stored = moderation.report(caller, body, ids.iso_utc(now_ms))
    return Response(body={"room": body["room"], "id": body["id"]},
                    status_code=201 if stored else 200)


@_as_chalice_errors
def reports(request: chalice.app.Request) -> dict[str, Any]:
    """GET /reports (admins) → 200 {"reports": [...]}; 401, 403."""
    return moderation.reports_list(_caller(request))
