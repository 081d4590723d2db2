"""Closing the WebSocket connections of ended sessions (logout, a reused refresh token).

The connections come from the session item itself, read by the very update
that ended it (strongly consistent, unlike the connections table's user
index): a connection registered before the end is in that set, and one
registered after is refused at $connect (store.sessions().attach_connection).

Each connection gets an `unauthorized` frame, then DeleteConnection. A delete
the service refuses (429, 5xx) is tried again until CLOSE_SECONDS - 1 have
passed; so is one answered 410 while the connection's record still exists (a
connection still inside its $connect cannot be deleted yet, and would
otherwise open after the logout). What is still open at the deadline is
written back to the session item (`unclosed`) and logged: its next frame is
refused and closed by the per-frame session check, which retries the close.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from chalicelib import errors, protocol, store
from chalicelib.connections_api import ConnectionsAPI, Delivery
from chalicelib.settings import LIMITS
from chalicelib.store.sessions import SessionRecord

log = logging.getLogger(__name__)

CLOSE_SECONDS: int = LIMITS.logout_close_seconds
RETRY_DELAYS = (0.1, 0.2, 0.4, 0.8)  # then 0.8 s apart until the deadline


def close_sessions(sender: ConnectionsAPI, ended: list[SessionRecord]) -> list[str]:
    """Tell and close every connection of the ended sessions; the ids still open at the deadline."""
    connection_ids = sorted({cid for session in ended for cid in session.connections})
    if not connection_ids:
        return []
    deadline = time.monotonic() + CLOSE_SECONDS - 1
    with ThreadPoolExecutor(min(8, len(connection_ids))) as pool:
        results = list(pool.map(lambda cid: _close(sender, cid, deadline), connection_ids))
    unclosed = [cid for cid, closed in zip(connection_ids, results, strict=True) if not closed]
    if unclosed:
        log.warning("logout: %d connections not closed yet, left to their next frame: %s",
                    len(unclosed), unclosed)
    return unclosed


def _close(sender: ConnectionsAPI, connection_id: str, deadline: float) -> bool:
    frame = protocol.error_frame(
        "unauthorized", "this session has ended; log in again", {}
    )
    delays = iter(RETRY_DELAYS)
    told = False
    while True:
        if not told:
            told = sender.post(connection_id, protocol.encode(frame).encode()) is Delivery.SENT
        outcome = sender.delete(connection_id)
        if outcome is Delivery.SENT:
            return True
        if outcome is Delivery.GONE and not _still_registered(connection_id):
            return True  # gone for good: its $disconnect has run
        delay = next(delays, RETRY_DELAYS[-1])
        if time.monotonic() + delay > deadline:
            return False
        time.sleep(delay)


def _still_registered(connection_id: str) -> bool:
    try:
        store.connections().get(connection_id)
    except errors.ConnectionGone:
        return False
    return True
