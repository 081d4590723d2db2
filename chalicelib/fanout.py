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
from typing import Any

from chalice.app import WebsocketDisconnectedError

from chalicelib import lazy, protocol, settings, store
from chalicelib.model import Message
from chalicelib.websocket import WebsocketSender

log = logging.getLogger(__name__)

@lazy.cached(on_reset=lambda pool: pool.shutdown(wait=False))
def _executor() -> ThreadPoolExecutor:
    """The container's send pool, sized by settings (made at the first stream batch)."""
    return ThreadPoolExecutor(settings.get().fanout_threads, "fanout")


def deliver(websocket_api: Any, records: Iterable[Any]) -> dict[str, list[dict[str, str]]]:
    """Handle one stream batch; returns the Lambda partial-batch response."""
    config = settings.get()
    if not config.websocket_api_id:
        # Every send would fail and the batch would retry forever: say why, loudly.
        raise RuntimeError("WEBSOCKET_API_ID is not set for the stream handler")
    websocket_api.configure_from_api_id(config.websocket_api_id, config.websocket_stage)
    # chalice creates its client lazily and botocore's client creation is not
    # thread-safe: create it here, before any fan-out thread needs it.
    websocket_api._get_client()

    by_room: dict[str, list[tuple[str, Message]]] = {}
    for record in records:
        if record.event_name != "INSERT":
            continue
        try:
            message = store.message_from_item(record.new_image)
        except (KeyError, TypeError):
            # A record that can never become a message must not block the shard.
            log.error("skipping undecodable record %s", record.sequence_number)
            continue
        by_room.setdefault(message.room, []).append((record.sequence_number, message))

    pending = {
        room: _start_room(websocket_api, room, [message for _, message in entries])
        for room, entries in by_room.items()
    }
    failures = []
    for room, futures in pending.items():
        if not _finished_cleanly(room, futures):
            failures.extend({"itemIdentifier": seq} for seq, _ in by_room[room])
    return {"batchItemFailures": failures}


def _start_room(
    sender: WebsocketSender, room: str, messages: list[Message]
) -> list[Future[None]] | Exception:
    try:
        connection_ids = store.room_connections(room)
    except Exception as failure:  # reported for retry below
        return failure
    payloads = [protocol.encode(protocol.message_frame(message)) for message in messages]
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
