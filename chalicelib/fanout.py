"""Stream records → frames → every connection in the record's room.

Per stream batch: records grouped by room (in order), one Query per room on the
room index, and for each connection ONE post carrying every frame of that room
(a `batch` frame, split only at 32 KB): a room's cost is its connections, not
messages times connections. Posts go out on a bounded thread pool through the lean
Management API client (chalicelib.connections_api), paced by the process's
adaptive rate (chalicelib.send_rate).

Being throttled is not being slow. A 429 may be the account's rate or one
client's full buffer, so a room is delivered in rounds: the connections that
answered 429 are retried together after a pause for the whole room, and when
rounds run out they are handed back for a later attempt (a delayed re-queue to
the delivery function), never dropped. A connection is closed for not reading
only on evidence about it alone: it refused while posts to others in its room
went through, in a round where few refused (after its first strike it is posted
first in each round, right after the room's pause), and that happened
STRIKES_TO_CLOSE times within STRIKE_WINDOW_SECONDS (strikes kept in guards, cleared when a post
to it goes through). Ephemeral frames (presence, typing, occupancy) get one
round: throttled ones are dropped and never close anyone. A connection that is
gone (410, the only sure sign) is forgotten. The batch reports a room's records
as failed (batchItemFailures) only when its connections could not be listed or
handed back, or the service kept failing after retries.

Rooms above settings' big_room_connections are paged out: each page of
connection ids, with the messages' keys (never their text: a failed page is
kept in the on-failure queue), goes to `deliver_to_connections`, so a room of
10,000 is delivered by ~20 functions at once.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, NamedTuple

from chalicelib import (
    clock,
    connection_cap,
    lazy,
    observability,
    protocol,
    revocation,
    settings,
    store,
    tracing,
)
from chalicelib.connections_api import ConnectionsAPI, Delivery
from chalicelib.functions import DELIVERY_FUNCTION, invoke_async, sibling_function
from chalicelib.model import Message
from chalicelib.store.messages import message_from_item

log = logging.getLogger(__name__)
# Pauses between a room's rounds (whole room, before jitter): 4 rounds in ~1.7 s.
ROOM_BACKOFF_SECONDS = (0.2, 0.5, 1.0)
# A round's refusals are evidence about each refusing connection only when
# posts to others went through and at most this share of the round refused.
ISOLATED_SHARE = 0.05
STRIKES_TO_CLOSE = 3
STRIKE_WINDOW_SECONDS = 120
# Connections still throttled after the rounds: handed back this much later,
# at most this many times (then the page fails and Lambda's retries and its
# on-failure destination keep it).
REQUEUE_DELAY_SECONDS = 2.0
MAX_REQUEUES = 20
ROOM_THREADS = 8  # rooms of one batch delivered side by side
# A frame of a room goes to a connection only within FRESH_MS of a read that
# found the connection in the room: the room index (before posting) or, past
# that, a strongly consistent read of the connections themselves. A removal
# (chalicelib/moderation.py) takes the connection out of the room, waits longer
# than this, then sends `removed`: a frame addressed before the removal is
# posted before `removed`, none after it.
FRESH_MS = 1_000
STALE_PASSES = 3  # re-reads in a row before a connection waits for the next round


class Fence(NamedTuple):
    """The room a delivery's connections were found in, and when that read started."""

    room: str
    read_at_ms: int

    @staticmethod
    def now(room: str) -> Fence:
        return Fence(room, clock.now_ms())

    def deadline_ms(self) -> int:
        return self.read_at_ms + FRESH_MS


@lazy.cached(on_reset=lambda pool: pool.shutdown(wait=False))
def _executor() -> ThreadPoolExecutor:
    """The container's send pool, sized by settings (made at the first send)."""
    return ThreadPoolExecutor(settings.get().fanout_threads, "fanout")


@lazy.cached(on_reset=lambda pool: pool.shutdown(wait=False))
def _rooms() -> ThreadPoolExecutor:
    """Rooms of a batch, side by side (their posts go to _executor: never the same pool)."""
    return ThreadPoolExecutor(ROOM_THREADS, "fanout-room")


def deliver(
    connections: ConnectionsAPI, records: Iterable[Any], function_name: str = "on_new_messages"
) -> dict[str, list[dict[str, str]]]:
    """Handle one stream batch; returns the Lambda partial-batch response.

    `function_name` is this function's deployed name: the delivery function is
    its sibling (Chalice names both `{app}-{stage}-{python name}`).
    """
    by_room: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    oldest = time.time()  # the lag is measured on the wall, as the stream stamps records
    for record in records:
        created = getattr(record, "timestamp", None)  # chalice: naive UTC, whole seconds
        if isinstance(created, datetime):
            oldest = min(oldest, created.replace(tzinfo=UTC).timestamp())
        try:
            found = record_frame(record.event_name, record.new_image)
        except (KeyError, TypeError):
            # A record that can never become a message must not block the shard.
            log.error("skipping undecodable record %s", record.sequence_number)
            continue
        if found is not None:
            room, frame = found
            by_room.setdefault(room, []).append((record.sequence_number, frame))

    delivery_function = sibling_function(function_name, DELIVERY_FUNCTION)
    started = {
        room: _rooms().submit(
            _deliver_stream_room, connections, room, _in_rev_order(entries), delivery_function
        )
        for room, entries in by_room.items()
    }
    failures: list[dict[str, str]] = []
    for room, future in started.items():
        if not future.result():
            failures.extend({"itemIdentifier": seq} for seq, _ in by_room[room])
    messages = sum(len(entries) for entries in by_room.values())
    if messages:
        observability.count("StreamMessages", messages)
        # From the oldest record's creation (whole seconds on DynamoDB) to the last post.
        observability.observe("FanoutLag", max(0.0, time.time() - oldest) * 1000)
    return {"batchItemFailures": failures}


def record_frame(
    event_name: str, new_image: dict[str, Any] | None
) -> tuple[str, dict[str, Any]] | None:
    """A messages-stream record → (room, the frame the room gets), or None (nothing to say).

    INSERT is a new message; MODIFY an edit (`messageUpdated`) or a delete
    (`messageDeleted`); REMOVE never happens to a message (deletes keep a tombstone).
    A MODIFY that is neither says nothing to the room.
    """
    if event_name not in ("INSERT", "MODIFY") or new_image is None:
        return None
    message = message_from_item(new_image)
    if event_name == "MODIFY" and not message.deleted and message.edited_at is None:
        return None
    return message.room, message_frame(message)


def message_frame(message: Message) -> dict[str, Any]:
    """The frame that says a message's current state: deleted, edited, or new."""
    if message.deleted:
        return protocol.message_deleted_frame(message)
    if message.edited_at is not None:
        return protocol.message_updated_frame(message)
    return protocol.message_frame(message)


class RoomDelivery(NamedTuple):
    """What became of one room's delivery after its rounds."""

    failed: bool  # the service kept failing (5xx, network) for some connection
    not_reached: dict[str, int]  # still throttled: connection id → posts it already got
    posts: list[bytes]
    fence: Fence | None = None  # the latest read that found them in the room


def deliver_room(
    connections: ConnectionsAPI,
    connection_ids: list[str],
    frames: list[dict[str, Any]],
    ephemeral: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    fence: Fence | None = None,
) -> RoomDelivery:
    """Deliver frames to one room's connections in rounds, the whole room backing off together.

    Ephemeral frames get one round and are dropped where throttled; nobody is
    closed for them. Otherwise a connection refusing alone is struck, and closed
    at its STRIKES_TO_CLOSE-th strike; what is left after the rounds is returned.
    With a fence, no post starts later than FRESH_MS after the read that found
    its connection in the room: past that, the connections still to post to are
    read again (strongly consistent) and those no longer in the room dropped.
    """
    with tracing.subsegment(
        "deliver_room", connections=len(connection_ids), frames=len(frames), ephemeral=ephemeral
    ) as span:
        result = _deliver_room(connections, connection_ids, frames, ephemeral, sleep, fence)
        span.annotate(not_reached=len(result.not_reached), failed=result.failed)
        return result


def _deliver_room(
    connections: ConnectionsAPI,
    connection_ids: list[str],
    frames: list[dict[str, Any]],
    ephemeral: bool,
    sleep: Callable[[float], None],
    fence: Fence | None,
) -> RoomDelivery:
    posts = protocol.batched(frames)
    progress = dict.fromkeys(connection_ids, 0)
    pending, struck = list(connection_ids), set()
    failed, reached_others = False, False
    rounds = 1 if ephemeral else len(ROOM_BACKOFF_SECONDS) + 1
    for round_number in range(rounds):
        # Connections under suspicion go first, when the room's pause has let the
        # account's rate recover: a refusal then is about them. The rest in a new
        # order each round, so a rate running out never lands on the same ones.
        rest = [cid for cid in pending if cid not in struck]
        random.shuffle(rest)
        pending = [cid for cid in pending if cid in struck] + rest
        before = dict(progress)
        posted, fence = _post_fenced(connections, pending, posts, progress, fence)
        pending = [cid for cid in pending if cid in posted]  # the rest left the room
        throttled, stalled = [], []
        for cid in pending:
            outcome = posted[cid]
            moved = progress[cid] > before[cid]
            if outcome is Delivery.THROTTLED:
                throttled.append(cid)
                if not moved:
                    stalled.append(cid)
                elif cid in struck:  # it is reading: what it took clears it
                    _clear_strikes(cid)
                    struck.discard(cid)
            else:
                failed = failed or outcome is Delivery.FAILED
                reached_others = reached_others or outcome is Delivery.SENT
                if cid in struck and outcome is Delivery.SENT:
                    _clear_strikes(cid)
        if not throttled:
            return RoomDelivery(failed, {}, posts, fence)
        if ephemeral:
            log.info("%d connections throttled: ephemeral frames dropped", len(throttled))
            return RoomDelivery(failed, {}, posts, fence)
        if reached_others and len(throttled) <= max(1, ISOLATED_SHARE * len(pending)):
            for cid in stalled:
                struck.add(cid)
                if _strike(cid):
                    _close_for_not_reading(connections, cid)
                    throttled.remove(cid)
        pending = throttled
        if pending and round_number < rounds - 1:
            sleep(ROOM_BACKOFF_SECONDS[round_number] * random.uniform(0.75, 1.25))
    return RoomDelivery(failed, {cid: progress[cid] for cid in pending}, posts, fence)


def _post_fenced(
    connections: ConnectionsAPI,
    connection_ids: list[str],
    posts: list[bytes],
    progress: dict[str, int],
    fence: Fence | None,
) -> tuple[dict[str, Delivery], Fence | None]:
    """One round's posts (progress updated); outcome per connection still in the room.

    A connection whose next post would start past the fence's deadline is read
    again with the others in that state (one strongly consistent BatchGetItem
    per 100), and posted to from where it stopped if it is still in the room.
    """
    pool, outcomes, todo = _executor(), {}, connection_ids
    for _ in range(STALE_PASSES):
        deadline = fence.deadline_ms() if fence is not None else None
        futures = [
            pool.submit(_post_from, connections, cid, posts, progress[cid], deadline)
            for cid in todo
        ]
        stale = []
        for cid, future in zip(todo, futures, strict=True):
            outcome, progress[cid] = future.result()
            if outcome is None:
                stale.append(cid)
            else:
                outcomes[cid] = outcome
        if not stale or fence is None:
            return outcomes, fence
        fence = Fence.now(fence.room)
        still = store.connections().existing(stale, room=fence.room)
        if len(still) < len(stale):
            log.info("room %s: %d connections left it while frames were on their way",
                     fence.room, len(stale) - len(still))
        todo = [cid for cid in stale if cid in still]
    outcomes.update(dict.fromkeys(todo, Delivery.THROTTLED))  # read again in the next round
    return outcomes, fence


def post_frames(
    connections: ConnectionsAPI, connection_ids: Iterable[str], frames: list[dict[str, Any]],
    fence: Fence | None = None,
) -> bool:
    """Send ephemeral frames (presence, typing, occupancy): one round, throttled ones dropped.

    Gone connections are forgotten; nobody is closed. Returns False when the
    service kept failing for some connection.
    """
    delivery = deliver_room(connections, list(connection_ids), frames, ephemeral=True, fence=fence)
    return not delivery.failed


def tell_room(
    connections: ConnectionsAPI,
    room: str,
    connection_ids: list[str],
    frames: list[dict[str, Any]],
    function_name: str | None = None,
    fence: Fence | None = None,
) -> None:
    """Ephemeral frames to a room's connections: posted here, or paged out like a big room's.

    `function_name` is the running function's deployed name (default: what
    Lambda says in AWS_LAMBDA_FUNCTION_NAME); the delivery function is its sibling.
    `fence`: when the connection ids were read (see deliver_room).
    """
    big = settings.get().big_room_connections
    if len(connection_ids) <= big:
        post_frames(connections, connection_ids, frames, fence)
        return
    running = function_name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    function = sibling_function(running, DELIVERY_FUNCTION)
    for start in range(0, len(connection_ids), big):
        page: dict[str, Any] = {
            "room": room, "connectionIds": connection_ids[start:start + big], "ephemeral": True,
        }
        if fence is not None:
            page["readAt"] = fence.read_at_ms
        _hand_over(function, page, frames)


def deliver_to_connections(
    connections: ConnectionsAPI,
    page: dict[str, Any],
    function_name: str = DELIVERY_FUNCTION,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """The delivery function: one page of a big room's connections gets the frames.

    (Or a page of connections of ended sessions to close, which a logout handed
    over: chalicelib.revocation.)

    A page handed back after throttling carries `attempt` and `delay`: it waits
    that long first, and hands back what is still throttled once more. Raises
    when the service kept failing (or the hand-backs ran out), so Lambda
    retries this page (and keeps it in the on-failure destination after its
    last retry); the other pages are not touched.
    """
    if revocation.CLOSE_KEY in page:  # connections of ended sessions a logout could not close
        revocation.close_handed_over(connections, page, function_name, sleep)
        return
    # When the connection ids were read (0 for pages from before readAt: read again first).
    fence: Fence | None = Fence(page["room"], int(page.get("readAt", 0)))
    if page.get("ephemeral"):  # presence, typing, occupancy: one round, nothing handed back
        if "readAt" not in page:
            fence = None  # a page from before ephemeral pages carried readAt: post as it was
        post_frames(connections, page["connectionIds"], page["frames"], fence)
        return
    sleep(min(float(page.get("delay", 0)), REQUEUE_DELAY_SECONDS * 4))
    if "messages" in page:
        frames = frames_by_key(page["room"], page["messages"])
    elif "messageIds" in page:  # pages handed over before keys carried the frame type
        stored = store.messages().by_ids(page["room"], page["messageIds"])
        frames = [message_frame(m) for m in stored]
    else:
        frames = page["frames"]
    attempt = int(page.get("attempt", 0))
    result = deliver_room(connections, page["connectionIds"], frames, sleep=sleep, fence=fence)
    handed_back = not result.not_reached or (
        attempt < MAX_REQUEUES
        and _hand_back(function_name, page["room"], result, frames, attempt + 1)
    )
    if result.failed or not handed_back:
        # Counted by infra/delivery.tf's metric filter: keep the words "delivery failed".
        log.error("delivery failed: room %s, a page of %d connections; Lambda retries it",
                  page["room"], len(page["connectionIds"]))
        raise RuntimeError(f"room {page['room']}: the Management API kept failing")


def _in_rev_order(entries: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """A room's frames in revision order (commit order: PROTOCOL.md v3).

    The stream keeps each message's changes in order but not the order across
    messages; within a batch the room sees them as revisions go.
    """
    return [frame for _, frame in sorted(entries, key=lambda entry: frame_rev(entry[1]))]


def frame_rev(frame: dict[str, Any]) -> int:
    """The room revision a stream frame carries."""
    return int(frame["message"]["rev"] if "message" in frame else frame["rev"])


def _deliver_stream_room(
    connections: ConnectionsAPI, room: str, frames: list[dict[str, Any]], delivery_function: str
) -> bool:
    """One room of a stream batch, delivered here or paged out; False: report its records."""
    big = settings.get().big_room_connections
    fence = Fence.now(room)  # before the room index is read
    try:
        pages = store.connections().room_pages(room, big)
        first = next(pages, [])
        second = next(pages, None)
        if second is not None:
            for page in [first, second, *pages]:
                _hand_over(delivery_function, {
                    "room": room, "connectionIds": page, "readAt": fence.read_at_ms,
                }, frames)
            return True
    except Exception as failure:  # reported for retry
        log.error("room %s: could not list or hand over connections: %r", room, failure)
        return False
    result = deliver_room(connections, first, frames, fence=fence)
    if result.failed:
        log.error("room %s: the Management API kept failing for some connections", room)
    handed_back = not result.not_reached or _hand_back(
        delivery_function, room, result, frames, 1
    )
    return handed_back and not result.failed


def _hand_back(
    function: str, room: str, result: RoomDelivery, frames: list[dict[str, Any]], attempt: int
) -> bool:
    """Hand the connections not reached to the delivery function for a later attempt.

    Each gets only the frames it has not had (grouped by how far it got).
    """
    by_progress: dict[int, list[str]] = {}
    for cid, done in result.not_reached.items():
        by_progress.setdefault(done, []).append(cid)
    counts = [_frames_in(post) for post in result.posts]
    try:
        for done, connection_ids in by_progress.items():
            page = {"room": room, "connectionIds": connection_ids,
                    "attempt": attempt, "delay": REQUEUE_DELAY_SECONDS}
            if result.fence is not None:
                page["readAt"] = result.fence.read_at_ms
            _hand_over(function, page, frames[sum(counts[:done]):])
    except Exception as failure:
        log.error("room %s: could not hand back %d throttled connections: %r",
                  room, len(result.not_reached), failure)
        return False
    log.info("room %s: %d connections throttled, handed back (attempt %d)",
             room, len(result.not_reached), attempt)
    return True


def _frames_in(post: bytes) -> int:
    frame = json.loads(post)
    return len(frame["frames"]) if frame.get("type") == "batch" else 1


def _hand_over(function: str, page: dict[str, Any], frames: list[dict[str, Any]]) -> None:
    """One asynchronous Invoke of the delivery function for one page.

    Messages go by key, never by text: a failed invocation is kept in the
    on-failure queue, and a message deleted meanwhile must not live on there
    (the delivery function reads each message as it is when it runs).
    Ephemeral frames (presence, typing, occupancy) go as they are.
    """
    if page.get("ephemeral"):
        page = {**page, "frames": frames}
    else:
        page = {**page, "messages": [[frame_message_id(f), f["type"]] for f in frames]}
    invoke_async(function, page)


def frames_by_key(room: str, keys: list[list[str]]) -> list[dict[str, Any]]:
    """The frames a page's (message id, frame type) keys stand for, from the messages now.

    A message deleted since becomes its messageDeleted (once); one gone is left out.
    """
    wanted = list(dict.fromkeys(message_id for message_id, _ in keys))
    found = {m.id: m for m in store.messages().by_ids(room, wanted)}
    frames, deleted = [], set()
    for message_id, kind in keys:
        message = found.get(message_id)
        if message is None or message_id in deleted:
            continue
        if message.deleted:
            deleted.add(message_id)
            frames.append(protocol.message_deleted_frame(message))
        elif kind == "messageUpdated":
            frames.append(protocol.message_updated_frame(message))
        else:
            frames.append(protocol.message_frame(message))
    return frames


def frame_message_id(frame: dict[str, Any]) -> str:
    """The id of the message a stream frame is about."""
    return str(frame["message"]["id"] if "message" in frame else frame["id"])


def _post_from(
    connections: ConnectionsAPI, connection_id: str, posts: list[bytes], start: int,
    deadline_ms: int | None = None,
) -> tuple[Delivery | None, int]:
    """Posts from `start` on to one connection, in order: the outcome and posts now delivered.

    None: the deadline passed before a post (the connection must be read again).
    """
    for index in range(start, len(posts)):
        if deadline_ms is not None and clock.now_ms() > deadline_ms:
            return None, index
        outcome = connections.post(connection_id, posts[index], deadline_ms)
        if outcome is Delivery.LATE:  # held past the deadline: read the connection again
            return None, index
        if outcome is Delivery.GONE:
            # Gone without a $disconnect (a vanished client): forget it now.
            _forget(connection_id)
            return outcome, index
        if outcome in (Delivery.THROTTLED, Delivery.FAILED):
            return outcome, index
    return Delivery.SENT, len(posts)


def _strike_key(connection_id: str) -> str:
    return f"strikes#{connection_id}"


def _strike(connection_id: str) -> bool:
    """Count a strike against a connection; True at its STRIKES_TO_CLOSE-th in the window."""
    try:
        over = store.guards().take_from_window(
            _strike_key(connection_id), STRIKES_TO_CLOSE - 1, STRIKE_WINDOW_SECONDS,
            clock.now_s(),
        )
    except Exception:  # no evidence kept, no close: it is retried like the rest
        log.exception("could not count a strike against %s", connection_id)
        return False
    return bool(over)


def _clear_strikes(connection_id: str) -> None:
    try:
        store.guards().forget_window(_strike_key(connection_id))
    except Exception:  # the strikes expire with their window
        log.exception("could not clear the strikes of %s", connection_id)


def _close_for_not_reading(connections: ConnectionsAPI, connection_id: str) -> None:
    """Close a connection that kept refusing alone; its client reconnects and catches up."""
    log.info("closing %s: it kept refusing frames while others in its room took theirs",
             connection_id)
    if connections.delete(connection_id) is Delivery.GONE:
        _forget(connection_id)
    _clear_strikes(connection_id)


def _forget(connection_id: str) -> None:
    try:
        gone = store.connections().delete(connection_id)
        if gone is not None:
            connection_cap.give_back(gone.username, connection_id)
    except Exception:  # its TTL removes it later; the delivery itself is done
        log.exception("could not delete the record of gone connection %s", connection_id)
