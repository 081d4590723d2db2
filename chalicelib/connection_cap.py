"""At most N open connections per user (PROTOCOL.md), holding under concurrency.

Each connection takes a slot in the user's guards item at $connect (one
conditional write: 40 parallel handshakes leave exactly N open) and gives it
back at $disconnect and wherever the connection is found gone (410 in the
fan-out). A connection can vanish without either (a Lambda that died, a lost
$disconnect): when the cap refuses, slots older than a grace period whose
connection record no longer exists are dropped and the take is tried again,
so such drift heals at the next handshake instead of locking the user out.
The item's TTL clears what is left after API Gateway's 2-hour limit, and the
local runtime forgets the items with the connections at start-up.
"""

from __future__ import annotations

import logging

from chalicelib import errors, settings, store

log = logging.getLogger(__name__)

# A slot is taken before its connection's record is written: younger slots
# without a record may be handshakes in progress, never stale.
STALE_AFTER_SECONDS = 60


def take(username: str, connection_id: str, now_s: int) -> None:
    """Take one of the user's slots for this connection, or raise TooManyRequests."""
    limit = settings.get().connections_per_user
    held = store.connection_slots().take(username, connection_id, limit, now_s)
    if not held:
        return
    candidates = [cid for cid, at in held.items() if at <= now_s - STALE_AFTER_SECONDS]
    alive = store.connections().existing(candidates) if candidates else set()
    healed = [
        cid for cid in candidates
        if cid not in alive and store.connection_slots().drop_stale(username, cid, held[cid])
    ]
    if healed:
        log.info("freed %d stale connection slots of %s", len(healed), username)
        if not store.connection_slots().take(username, connection_id, limit, now_s):
            return
    raise errors.TooManyRequests(f"at most {limit} open connections per user")


def give_back(username: str, connection_id: str) -> None:
    """Free the connection's slot (idempotent)."""
    store.connection_slots().give_back(username, connection_id)
