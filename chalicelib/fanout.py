"""Stream records → frames → every connection in the record's room.

Per stream batch: records grouped by room (in order), one Query per room on the
room index, and for each connection ONE post carrying every frame of that room
(a `batch` frame, split only at 32 KB): a room's cost is its connections, not
messages times connections. Posts go out on a bounded thread pool through the lean
Management API client (chalicelib.connections_api).

One reader never hurts the others: a connection that is gone is forgotten, one
that keeps refusing frames (429: it stopped reading) is closed with
DeleteConnection (its client reconnects and catches up with getMessages), and
the batch reports a room's records as failed (batchItemFailures) only when its
connections could not be listed or the service kept failing after retries.

Rooms above settings' big_room_connections are paged out: each page of
connection ids, with the frames (or the messages' keys when the frames would
not fit in an asynchronous Invoke), goes to `deliver_to_connections`, so a
room of 10,000 is delivered by ~20 functions at once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from chalicelib import aws, connection_cap, lazy, protocol, settings, store
from chalicelib.connections_api import ConnectionsAPI, Delivery

log = logging.getLogger(__name__)

DELIVERY_FUNCTION = "deliver_to_connections"
# Lambda's limit for an asynchronous Invoke's payload is 256 KB; keep a margin.
INVOKE_PAYLOAD_MAX_BYTES = 250_000


@lazy.cached(on_reset=lambda pool: pool.shutdown(wait=False))
def _executor() -> ThreadPoolExecutor:
    """The container's send pool, sized by settings (made at the first send)."""
    return ThreadPoolExecutor(settings.get().fanout_threads, "fanout")


@lazy.cached()
def _lambda() -> Any:
    """The Lambda client that hands big rooms' pages to the delivery function."""
    return aws.session().client("lambda")


def deliver(
    connections: ConnectionsAPI, records: Iterable[Any], function_name: str = "on_new_messages"
) -> dict[str, list[dict[str, str]]]:
    """Handle one stream batch; returns the Lambda partial-batch response.

    `function_name` is this function's deployed name: the delivery function is
    its sibling (Chalice names both `{app}-{stage}-{python name}`).
    """
    by_room: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for record in records:
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
    pending = {
        room: _start_room(connections, room, _in_id_order(entries), delivery_function)
        for room, entries in by_room.items()
    }
    failures = []
    for room, started in pending.items():
        if not _finished_cleanly(room, started):
            failures.extend({"itemIdentifier": seq} for seq, _ in by_room[room])
    return {"batchItemFailures": failures}


def record_frame(
    event_name: str, new_image: dict[str, Any] | None
) -> tuple[str, dict[str, Any]] | None:
    """A messages-stream record → (room, the frame the room gets), or None (nothing to say).

    INSERT is a new message; MODIFY an edit (`messageUpdated`) or a delete
    (`messageDeleted`); REMOVE never happens to a message (deletes keep a tombstone).
    """
    if event_name not in ("INSERT", "MODIFY") or new_image is None:
        return None
    message = store.message_from_item(new_image)
    if event_name == "INSERT":
        return message.room, protocol.message_frame(message)
    if message.deleted:
        return message.room, protocol.message_deleted_frame(message)
    if message.edited_at is not None:
        return message.room, protocol.message_updated_frame(message)
    return None


def post_frames(
    connections: ConnectionsAPI, connection_ids: Iterable[str], frames: list[dict[str, Any]]
) -> bool:
    """Send frames to each connection (one post each, batched); waits for all.

    Gone connections are forgotten and ones that keep refusing are closed;
    returns False when the service kept failing for some connection.
    """
    posts = protocol.batched(frames)
    pool = _executor()
    futures = [pool.submit(_post_all, connections, cid, posts) for cid in connection_ids]
    return all(future.result() is not Delivery.FAILED for future in futures)


def deliver_to_connections(connections: ConnectionsAPI, page: dict[str, Any]) -> None:
    """The delivery function: one page of a big room's connections gets the frames.

    Raises when the service kept failing, so Lambda retries this page (and keeps
    it in the on-failure destination after its last retry); the other pages
    are not touched.
    """
    frames = page.get("frames")
    if frames is None:  # too big for the Invoke: read the messages by key
        frames = [_frame_of(m) for m in store.messages_by_id(page["room"], page["messageIds"])]
    if not post_frames(connections, page["connectionIds"], frames):
        # Counted by infra/delivery.tf's metric filter: keep the words "delivery failed".
        log.error("delivery failed: room %s, a page of %d connections; Lambda retries it",
                  page["room"], len(page["connectionIds"]))
        raise RuntimeError(f"room {page['room']}: the Management API kept failing")


def sibling_function(function_name: str, python_name: str) -> str:
    """The deployed name of another function of this app and stage."""
    prefix = function_name.rpartition("-")[0]
    return f"{prefix}-{python_name}" if prefix else python_name


def _in_id_order(entries: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """A room's frames by message id (stable: a message's edits stay after it).

    Ids are taken before the write, so two senders' messages can reach the
    stream in the other order; within a batch the room sees them as ids sort.
    """
    return [frame for _, frame in sorted(entries, key=lambda entry: frame_message_id(entry[1]))]


def _frame_of(message: Any) -> dict[str, Any]:
    if message.deleted:
        return protocol.message_deleted_frame(message)
    if message.edited_at is not None:
        return protocol.message_updated_frame(message)
    return protocol.message_frame(message)


def _start_room(
    connections: ConnectionsAPI,
    room: str,
    frames: list[dict[str, Any]],
    delivery_function: str,
) -> list[Future[Delivery]] | Exception | None:
    """Start a room's delivery: futures of its posts, an exception, or None (paged out)."""
    big = settings.get().big_room_connections
    try:
        pages = store.room_connection_pages(room, big)
        first = next(pages, [])
        second = next(pages, None)
        if second is not None:
            for page in [first, second, *pages]:
                _hand_over(delivery_function, room, page, frames)
            return None
    except Exception as failure:  # reported for retry below
        return failure
    posts = protocol.batched(frames)
    pool = _executor()
    return [pool.submit(_post_all, connections, cid, posts) for cid in first]


def _hand_over(
    function: str, room: str, connection_ids: list[str], frames: list[dict[str, Any]]
) -> None:
    """One asynchronous Invoke of the delivery function for one page."""
    page: dict[str, Any] = {"room": room, "connectionIds": connection_ids, "frames": frames}
    payload = json.dumps(page, ensure_ascii=False).encode()
    if len(payload) > INVOKE_PAYLOAD_MAX_BYTES:
        del page["frames"]
        page["messageIds"] = [frame_message_id(frame) for frame in frames]
        payload = json.dumps(page).encode()
    _lambda().invoke(FunctionName=function, InvocationType="Event", Payload=payload)


def frame_message_id(frame: dict[str, Any]) -> str:
    """The id of the message a stream frame is about."""
    return frame["message"]["id"] if "message" in frame else frame["id"]


def _post_all(connections: ConnectionsAPI, connection_id: str, posts: list[bytes]) -> Delivery:
    """Every post for one connection, in order; what happened to the connection."""
    for data in posts:
        outcome = connections.post(connection_id, data)
        if outcome is Delivery.GONE:
            # Gone without a $disconnect (a vanished client): forget it now.
            _forget(connection_id)
            return outcome
        if outcome is Delivery.REFUSED:
            # It stopped reading: close it; its client reconnects and catches up.
            log.info("closing %s: it kept refusing frames", connection_id)
            if connections.delete(connection_id) is Delivery.GONE:
                _forget(connection_id)
            return outcome
        if outcome is Delivery.FAILED:
            return outcome
    return Delivery.SENT


def _forget(connection_id: str) -> None:
    try:
        gone = store.delete_connection(connection_id)
        if gone is not None:
            connection_cap.give_back(gone.username, connection_id)
    except Exception:  # its TTL removes it later; the delivery itself is done
        log.exception("could not delete the record of gone connection %s", connection_id)


def _finished_cleanly(room: str, started: list[Future[Delivery]] | Exception | None) -> bool:
    if started is None:
        return True
    if isinstance(started, Exception):
        log.error("room %s: could not list or hand over connections: %r", room, started)
        return False
    outcomes = [future.result() for future in started]
    failed = outcomes.count(Delivery.FAILED)
    if failed:
        log.error("room %s: the Management API kept failing for %d connections", room, failed)
    return not failed
