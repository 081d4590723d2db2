"""Domain errors, and their one mapping to the wire.

Code inside chalicelib raises these; the REST edge (rest.py) turns them into
Chalice errors and the WebSocket edge (websocket.py) into error frames.
"""

from __future__ import annotations


class ChatError(Exception):
    """Something a client caused or may retry. `code` is the WebSocket error code."""

    code = "bad_request"
    status = 400
    chalice_error = "BadRequestError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ChatError):
    """Malformed or out-of-range input (400 / bad_request)."""


class TooLarge(InvalidInput):
    """A text or frame over its size limit (too_large)."""

    code = "too_large"


class UnknownAction(InvalidInput):
    """A frame whose action the protocol does not define (unknown_action)."""

    code = "unknown_action"


class Unauthorized(ChatError):
    """Wrong credentials or an unusable token (401)."""

    code = "unauthorized"
    status = 401
    chalice_error = "UnauthorizedError"


class UsernameTaken(ChatError):
    """Signup for a name that exists, ignoring case (409)."""

    code = "conflict"
    status = 409
    chalice_error = "ConflictError"


class RoomTaken(ChatError):
    """POST /rooms for a name that exists (409)."""

    code = "conflict"
    status = 409
    chalice_error = "ConflictError"


class TooManyRequests(ChatError):
    """Over a limit of PROTOCOL.md (429 / rate_limited); REST says when to retry."""

    code = "rate_limited"
    status = 429
    chalice_error = "TooManyRequestsError"

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(ChatError):
    """Changing someone else's message (403 / forbidden)."""

    code = "forbidden"
    status = 403
    chalice_error = "ForbiddenError"


class NotFound(ChatError):
    """No such message in the room, or it was deleted (404 / not_found)."""

    code = "not_found"
    status = 404
    chalice_error = "NotFoundError"


class ConnectionGone(ChatError):
    """The connection's record is gone (disconnected, expired by TTL).

    A frame that still arrives from it gets `internal` (its client should
    reconnect). The Management API's 410 is not this error: the handlers read it
    as Delivery.GONE (chalicelib.connections_api), and the local stand-ins raise
    their own (chatapp.management.Gone).
    """

    code = "internal"
    status = 500
    chalice_error = "ChaliceViewError"
