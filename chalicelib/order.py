"""Order and catch-up (PROTOCOL.md v3): the room's revision policy.

A change is tried at the revision after the room's current one (read once,
strongly consistent); when another writer took that revision first, the
cancelled transaction tells the room's revision as it now is, and the change is
tried again at once at the revision after that one: the winner has committed,
so the first retry usually wins (two instances of a busy room race all the
time, and a pause there only adds latency). A writer that loses again pauses
for a short random while first (full jitter, so writers that keep colliding do
not collide again in step), a bounded number of times. A cancelled attempt
writes nothing, so giving up leaves no hole: the client gets `internal` and may
resend (with its clientId, still stored once).

`changes` answers getChanges from the rev-index: one Query per page, plus one
read of the room item only when nothing changed.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from chalicelib import clock, errors, protocol, store
from chalicelib.model import Message
from chalicelib.store.messages import Draft, RevisionTaken, RoomState, Turn

log = logging.getLogger(__name__)

T = TypeVar("T")

# 20 writers racing for one room all get through well within this: a writer that
# lost every race has waited about 4 s in all (API Gateway allows a frame 29 s).
ATTEMPTS = 50
BACKOFF_BASE_S = 0.005
BACKOFF_CAP_S = 0.25
# A writer that lost this many races takes the room's lease (store/messages.py):
# without it, a writer slower than the room's pace between commits never wins.
LEASE_AFTER = 8
LEASE_MS = 2_000
BUSY_SECONDS = 20.0  # API Gateway gives a WebSocket frame's integration 29 s


class Tally(NamedTuple):
    """What committing one change cost: attempts made (1 = no conflict)."""

    attempts: int


class RoomBusy(errors.ChatError):
    """Every attempt lost the race for the room's next revision; nothing was written."""

    code = "internal"
    status = 503


def pause_seconds(lost: int) -> float:
    """The pause after losing `lost` races: none after the first, then full jitter, doubling."""
    if lost <= 1:
        return 0.0
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (lost - 1)))


def _at_next_revision(
    room: str, write: Callable[[RoomState, Turn], T], tallies: list[Tally] | None,
    expected: RoomState | None = None,
) -> T:
    """Run write(room state expected, turn) until it commits at the next revision, or RoomBusy.

    `expected` is the room's state as the caller just read it strongly
    consistent (None: read it here). Bounded by lost races (ATTEMPTS) and by
    time (BUSY_SECONDS): waiting while another writer holds the lease is not a
    lost race.
    """
    repository, writer, leased = store.messages(), secrets.token_hex(8), False
    expected = repository.room_state(room) if expected is None else expected
    lost, attempts = 0, 0
    deadline = time.monotonic() + BUSY_SECONDS
    try:
        while lost < ATTEMPTS and time.monotonic() < deadline:
            attempts += 1
            turn = Turn(writer, clock.now_ms())
            if lost >= LEASE_AFTER and not leased:
                leased = repository.take_lease(room, turn, LEASE_MS)
            try:
                result = write(expected, turn)
            except RevisionTaken as taken:
                current = taken.current
                expected = (
                    RoomState(current, taken.count) if current is not None
                    else repository.room_state(room)
                )
                if taken.leased:
                    time.sleep(random.uniform(0.02, 0.08))  # its holder commits soon
                else:
                    lost += 1
                    pause = pause_seconds(lost)
                    if pause:
                        time.sleep(pause)
                continue
            leased = False  # the commit removed it
            if tallies is not None:
                tallies.append(Tally(attempts))
            return result
    finally:
        if leased:  # refused, a repeat, or out of attempts: let the others on
            repository.release_lease(room, Turn(writer, clock.now_ms()))
    log.warning("room %s: no revision after %d attempts", room, attempts)
    raise RoomBusy("the room is too busy right now; try again")


def send(
    draft: Draft, now_s: int, tallies: list[Tally] | None = None,
    expected: RoomState | None = None, mark_read: bool = False,
) -> Message | None:
    """Store a new message at the room's next revision; None when its clientId was stored.

    `expected`: the room's revision and count as the frame's access check read
    them (one read for both); a stale one only costs a cancelled attempt.
    `mark_read`: move the sender's read marker to it in the same transaction
    (store/messages.py append); Forbidden if their membership went meanwhile.
    """
    return _at_next_revision(
        draft.room,
        lambda expected, turn: store.messages().append(
            draft, expected.rev, now_s, turn, expected.messages, mark_read
        ),
        tallies,
        expected,
    )


def change(
    room: str, message_id: str, sender: str, text: str | None, changed_at: str,
    client_id: str | None, now_s: int, tallies: list[Tally] | None = None,
    expected: RoomState | None = None,
) -> Message | None:
    """Edit (text given) or delete (None) a message at the room's next revision.

    None when the change's clientId was applied before; Forbidden / NotFound as
    PROTOCOL.md says. `expected` as for send.
    """
    return _at_next_revision(
        room,
        lambda expected, turn: store.messages().change(
            room, message_id, sender, text, changed_at, client_id, expected.rev, now_s, turn
        ),
        tallies,
        expected,
    )


def changes_frame(room: str, since_rev: int, limit: int) -> dict[str, Any]:
    """The `changes` frame for getChanges: a page of the room's changes after since_rev.

    `rev` is the room's newest revision when nothing more is left, else the rev
    of the last message returned. The newest revision of a room is always the
    `rev` of some message (the change that took it wrote it there, and nothing
    later moved it), so a last page's final message carries it. Only an empty
    page reads the room item, and answers no more than since_rev: a change
    committed after the Query must still look new to the client (it comes live).
    """
    page, has_more = store.messages().changes(room, since_rev, limit)
    frame = protocol.changes_frame(room, page, has_more)
    if not frame["messages"]:
        frame["rev"] = min(since_rev, store.messages().room_rev(room))
    return frame
