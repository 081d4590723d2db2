"""Closing the WebSocket connections of ended sessions (logout, a reused refresh token).

The connections come from the session item itself, read by the very update
that ended it (strongly consistent, unlike the connections table's user
index): a connection registered before the end is in that set, and one
registered after is refused at $connect (store.sessions().attach_connection).

Each connection gets an `unauthorized` frame, then DeleteConnection. A delete
the service refuses (429, 5xx) is tried again until CLOSE_SECONDS - 1 have
passed; so is one answered 410 while the connection's record still exists (a
connection still inside its $connect cannot be deleted yet, and would
otherwise open after the logout).

What is still open then is handed to a later retry that needs nobody's help:
an asynchronous invoke of the delivery function (deliver_to_connections) with
a page `{"close": [ids], "told": [ids], "attempt": n, "delay": s}`. It waits
`delay`, tries for HANDED_OVER_CLOSE_SECONDS, and hands what is still open
over again, later each time, until MAX_HANDOFFS attempts have run (about
2 minutes); then it raises, so Lambda retries the page twice and keeps it in
the delivery function's on-failure queue (infra/delivery.tf). Should the
hand-off itself fail, the connection's next frame is refused and closed by the
per-frame session check.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import errors, observability, protocol, store
from chalicelib.connections_api import ConnectionsAPI, Delivery
from chalicelib.functions import DELIVERY_FUNCTION, REST_FUNCTION, invoke_async, sibling_function
from chalicelib.settings import LIMITS
from chalicelib.store.sessions import SessionRecord

log = logging.getLogger(__name__)

CLOSE_SECONDS: int = LIMITS.logout_close_seconds
RETRY_DELAYS = (0.1, 0.2, 0.4, 0.8)  # then 0.8 s apart until the deadline
CLOSE_KEY = "close"  # a delivery function page of connections to close
# A handed-over close waits this long before each attempt (then the last again),
# and tries for HANDED_OVER_CLOSE_SECONDS: 8 attempts span about 2 minutes.
HANDOFF_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)
HANDED_OVER_CLOSE_SECONDS = 10
MAX_HANDOFFS = 8


def close_sessions(
    connections: ConnectionsAPI, ended: list[SessionRecord], function_name: str = REST_FUNCTION
) -> list[str]:
    """Tell and close every connection of the ended sessions; the ids handed to a later retry.

    `function_name` is the running REST function's deployed name (its Lambda
    context's); the delivery function that retries later is found from it.
    """
    connection_ids = sorted({cid for session in ended for cid in session.connections})
    if not connection_ids:
        return []
    unclosed, told = _close_all(connections, connection_ids, set(), CLOSE_SECONDS - 1)
    if unclosed:
        delivery = sibling_function(function_name, DELIVERY_FUNCTION, REST_FUNCTION)
        _hand_off(delivery, unclosed, told, 1)
    return unclosed


def close_handed_over(
    connections: ConnectionsAPI,
    page: dict[str, Any],
    function_name: str = DELIVERY_FUNCTION,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """The delivery function's half: close a handed-over page, or hand it on; raise at the end.

    `function_name` is the running delivery function's deployed name: what is
    still open goes back to it. Raises ValueError for a page that is not one.
    """
    connection_ids, told, attempt = _close_page(page)
    sleep(min(float(page.get("delay", 0)), HANDOFF_DELAYS[-1]))
    unclosed, told = _close_all(connections, connection_ids, told, HANDED_OVER_CLOSE_SECONDS)
    if not unclosed:
        log.info("closed %d handed-over connections (attempt %d)", len(connection_ids), attempt)
        return
    if attempt < MAX_HANDOFFS and _hand_off(function_name, unclosed, told, attempt + 1):
        return
    # Counted by infra/delivery.tf's metric filter: keep the words "delivery failed".
    log.error("delivery failed: %d connections of ended sessions still open after %d"
              " attempts; Lambda retries: %s", len(unclosed), attempt, unclosed)
    raise RuntimeError(f"{len(unclosed)} connections of ended sessions could not be closed")


def _close_page(page: dict[str, Any]) -> tuple[list[str], set[str], int]:
    connection_ids, told = page.get(CLOSE_KEY), page.get("told", [])
    attempt = page.get("attempt", 1)
    if not (
        isinstance(connection_ids, list) and connection_ids
        and all(isinstance(cid, str) and cid for cid in connection_ids)
        and isinstance(told, list) and all(isinstance(cid, str) for cid in told)
        and isinstance(attempt, int) and attempt >= 1
        and isinstance(page.get("delay", 0), (int, float))
    ):
        raise ValueError(f"not a page of connections to close: {page!r}")
    return connection_ids, set(told), attempt


def _hand_off(function: str, connection_ids: list[str], told: set[str], attempt: int) -> bool:
    """Hand connections still open to the delivery function for a later attempt."""
    delay = HANDOFF_DELAYS[min(attempt, len(HANDOFF_DELAYS)) - 1]
    page = {CLOSE_KEY: connection_ids, "told": sorted(told & set(connection_ids)),
            "attempt": attempt, "delay": delay}
    try:
        invoke_async(function, page)
    except Exception as failure:
        log.error("could not hand over closing %s: %r; left to their next frame",
                  connection_ids, failure)
        return False
    observability.count("ClosesHandedOff", len(connection_ids))
    log.warning("%d connections not closed yet: handed to %s (attempt %d, in %.0f s): %s",
                len(connection_ids), function, attempt, delay, connection_ids)
    return True


def _close_all(
    connections: ConnectionsAPI, connection_ids: list[str], told: set[str], seconds: float
) -> tuple[list[str], set[str]]:
    """Close each connection, trying for `seconds`: (those still open, those told)."""
    deadline = time.monotonic() + seconds
    with ThreadPoolExecutor(min(8, len(connection_ids))) as pool:
        results = list(pool.map(
            lambda cid: _close(connections, cid, cid in told, deadline), connection_ids
        ))
    unclosed = [cid for cid, (closed, _) in zip(connection_ids, results, strict=True)
                if not closed]
    now_told = {cid for cid, (_, was_told) in zip(connection_ids, results, strict=True)
                if was_told}
    return unclosed, now_told


def _close(
    connections: ConnectionsAPI, connection_id: str, told: bool, deadline: float
) -> tuple[bool, bool]:
    """Tell and delete one connection until the deadline: (closed, told)."""
    frame = protocol.error_frame(
        "unauthorized", "this session has ended; log in again", {}
    )
    delays = iter(RETRY_DELAYS)
    while True:
        if not told:
            told = connections.post(connection_id, protocol.encode(frame).encode()) is Delivery.SENT
        outcome = connections.delete(connection_id)
        if outcome is Delivery.SENT:
            return True, told
        if outcome is Delivery.GONE and not _still_registered(connection_id):
            return True, told  # gone for good: its $disconnect has run
        delay = next(delays, RETRY_DELAYS[-1])
        if time.monotonic() + delay > deadline:
            return False, told
        time.sleep(delay)


def _still_registered(connection_id: str) -> bool:
    try:
        store.connections().get(connection_id)
    except errors.ConnectionGone:
        return False
    return True
