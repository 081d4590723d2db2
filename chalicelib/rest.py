"""The REST edge: request bodies in, JSON out, domain errors as Chalice errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import chalice
from chalice import CORSConfig, Response

from chalicelib import auth, errors, protocol, revocation, rooms, settings
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
            revocation.close_sessions(connections, [reuse.ended])
        raise


@_as_chalice_errors
def logout(request: chalice.app.Request, connections: ConnectionsAPI) -> Response:
    """POST /logout [{"everywhere": true}] → 204: sessions ended, their sockets closed; or 401."""
    everywhere = protocol.parse_logout(request.raw_body)
    ended = auth.logout(bearer_token(request), everywhere)
    revocation.close_sessions(connections, ended)
    return Response(body="", status_code=204)


def health() -> dict[str, str]:
    return {"status": "ok"}


@_as_chalice_errors
def rooms_list(request: chalice.app.Request) -> dict[str, Any]:
    """GET /rooms (Bearer) → the user's rooms with unread counts, or 401."""
    return {"rooms": rooms.user_rooms(auth.authenticate(bearer_token(request)).username)}
