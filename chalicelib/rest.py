"""The REST edge: request bodies in, JSON out, domain errors as Chalice errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import chalice
from chalice import CORSConfig, Response

from chalicelib import auth, errors, protocol, rooms, settings

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
        except errors.ChatError as failure:
            raise getattr(chalice, failure.chalice_error)(failure.message) from None

    return wrapper  # type: ignore[return-value]


@_as_chalice_errors
def signup(request: chalice.app.Request) -> Response:
    """POST /signup → 201 with a session, 400, or 409."""
    session = auth.signup(protocol.parse_credentials(request.raw_body))
    return Response(body=session.to_wire(), status_code=201)


@_as_chalice_errors
def login(request: chalice.app.Request) -> dict[str, str]:
    """POST /login → 200 with a session, 400, 401, or 429."""
    return auth.login(protocol.parse_credentials(request.raw_body)).to_wire()


def health() -> dict[str, str]:
    return {"status": "ok"}


@_as_chalice_errors
def rooms_list(request: chalice.app.Request) -> dict[str, Any]:
    """GET /rooms (Bearer) → the user's rooms with unread counts, or 401."""
    return {"rooms": rooms.user_rooms(auth.verify_token(_bearer_token(request)))}


def _bearer_token(request: chalice.app.Request) -> str | None:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
