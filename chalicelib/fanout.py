"""Stream records → message frames → every connection in the message's room.

Per batch: records grouped by room, one Query per room on the room index,
sends on a bounded thread pool (a room of 1,000 must not cost 1,000 round
trips in a row), connections that are gone deleted, and only the records of
rooms whose delivery failed reported back as batchItemFailures.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from chalice.app import WebsocketDisconnectedError

from chalicelib import lazy, protocol, settings, store

if TYPE_CHECKING:  # websocket.py passes typing on through post_frames
    from chalicelib.websocket import WebsocketSender

log = logging.getLogger(__name__)

@lazy.cached(on_reset=lambda pool: pool.shutdown(wait=False))
def _executor() -> ThreadPoolExecutor:
    """The container's send pool, sized by settings (made at the first stream batch)."""
    return ThreadPoolExecutor(settings.get().fanout_threads, "fanout")


def deliver(websocket_api: Any, records: Iterable[Any]) -> dict[str, list[dict[str, str]]]:
    """Handle one stream batch; returns the Lambda partial-batch response."""
    prepare_sender(websocket_api)

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

    pending = {
        room: _start_room(websocket_api, room, [frame for _, frame in entries])
        for room, entries in by_room.items()
    }
    failures = []
    for room, futures in pending.items():
        if not _finished_cleanly(room, futures):
            failures.extend({"itemIdentifier": seq} for seq, _ in by_room[room])
    return {"batchItemFailures": failures}


def prepare_sender(websocket_api: Any) -> None:
    """Point chalice's websocket_api at the API for a handler that no WebSocket event called."""
    config = settings.get()
    if not config.websocket_api_id:
        # Every send would fail and the batch would retry forever: say why, loudly.
        raise RuntimeError("WEBSOCKET_API_ID is not set for the stream handler")
    websocket_api.configure_from_api_id(config.websocket_api_id, config.websocket_stage)
    # chalice creates its client lazily and botocore's client creation is not
    # thread-safe: create it here, before any fan-out thread needs it.
    websocket_api._get_client()


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
    sender: WebsocketSender, connection_ids: Iterable[str], frames: list[dict[str, Any]]
) -> None:
    """Send frames to each connection on the pool (gone ones are forgotten); waits for all."""
    payloads = [protocol.encode(frame) for frame in frames]
    pool = _executor()
    for future in [pool.submit(_send_all, sender, cid, payloads) for cid in connection_ids]:
        failure = future.exception()
        if failure is not None:
            log.warning("send failed: %r", failure)


def _start_room(
    sender: WebsocketSender, room: str, frames: list[dict[str, Any]]
) -> list[Future[None]] | Exception:
    try:
        connection_ids = store.room_connections(room)
    except Exception as failure:  # reported for retry below
        return failure
    payloads = [protocol.encode(frame) for frame in frames]
    pool = _executor()
    return [pool.submit(_send_all, sender, cid, payloads) for cid in connection_ids]


def _send_all(sender: WebsocketSender, connection_id: str, payloads: list[str]) -> None:
    try:
        for payload in payloads:
            sender.send(connection_id, payload)
    except WebsocketDisconnectedError:
        # Gone without a $disconnect (a vanished client): forget it now.
        store.delete_connection(connection_id)


def _finished_cleanly(room: str, futures: list[Future[None]] | Exception) -> bool:
    if isinstance(futures, Exception):
        log.error("room %s: could not list connections: %r", room, futures)
        return False
    failed = [future.exception() for future in futures if future.exception() is not None]
    for failure in failed[:3]:
        log.error("room %s: send failed: %r", room, failure)
    return not failed
