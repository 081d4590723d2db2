"""DynamoDB throttling 10% of the backend's calls while a room chats.

Clients behave as PROTOCOL.md asks: a sendMessage answered by an error frame
is sent again with the same clientId. The stream is delivered as Lambda's
event source mapping does (retry from the first failed record).
"""

from __future__ import annotations

import pytest

from chalicelib import lazy, store
from tests.reliability.dynamodb_faults import DynamoDBFaults
from tests.support.inprocess import message_ids

MEMBERS = 4
ROUNDS = 20
FAULT_RATE = 0.10
SEED = 20261125  # fixed: the same calls are throttled on every run
SEND_TRIES = 6  # a client gives up on a message after this many error frames


@pytest.fixture
def throttled(backend, fast_backoff, monkeypatch):
    """Faults on the backend's DynamoDB client (not yet enabled)."""
    # The rate limits are not under test, and their windows follow the clock: with
    # them off, the sequence of DynamoDB calls (and so the seeded faults) is the
    # same on every run.
    monkeypatch.setenv("RATE_LIMIT_WRITES", "0")
    monkeypatch.setenv("RATE_LIMIT_READS", "0")
    lazy.reset()
    faults = DynamoDBFaults(FAULT_RATE, SEED)
    faults.install(store.client())
    return faults


def test_every_stored_message_reaches_every_member_while_dynamodb_throttles(
    backend, throttled, tally
):
    room = "throttled"
    members = {f"member{n}": backend.join(f"member{n}", room) for n in range(MEMBERS)}
    throttled.enabled = True

    accepted, given_up, error_frames, stream_retries, frames_sent = [], [], 0, 0, 0
    for round_ in range(ROUNDS):
        for name, connection in members.items():
            client_id = f"{name}-{round_}"
            text = f"{name} says {round_}"
            frame = {"action": "sendMessage", "text": text, "clientId": client_id}
            for _ in range(SEND_TRIES):
                replies = backend.send(connection, frame)
                frames_sent += 1
                if not replies:
                    accepted.append(client_id)
                    break
                # A failed request gets an internal error frame that names it, nothing else.
                assert [(r["type"], r["code"], r.get("clientId")) for r in replies] == [
                    ("error", "internal", client_id)
                ]
                error_frames += 1
            else:
                given_up.append(client_id)
            stream_retries += backend.deliver(backend.new_records())
        # History reads are throttled too: a messages frame or an error frame, never silence.
        (reply,) = backend.send(members["member0"], {"action": "getMessages", "limit": 5})
        frames_sent += 1
        assert reply["type"] == "messages" or reply["code"] == "internal", reply
    throttled.enabled = False
    stream_retries += backend.deliver(backend.new_records())

    stored = backend.stored(room)
    stored_ids = {m["id"] for m in stored}
    client_ids = [m["clientId"] for m in stored]
    # Stored once per clientId however often it was retried; nothing stored for a give-up.
    assert sorted(client_ids) == sorted(accepted)
    assert not set(given_up) & set(client_ids)

    lost = 0
    for connection in members.values():
        received = set(message_ids(backend.outbox.frames(connection)))
        history = {m["id"] for m in backend.stored(room)} if received != stored_ids else set()
        lost += len(stored_ids - received - history)
        assert received == stored_ids  # the stream got every stored message to everyone
        # Nobody's connection died: still registered, and it answers.
        assert backend.is_registered(connection)
        assert backend.send(connection, {"action": "ping"}) == [{"type": "pong"}]

    # the store's max_attempts counts retries; botocore keeps the total.
    max_attempts = store.client().meta.config.retries["total_max_attempts"]
    tally.add(inputs=frames_sent, faults=throttled.injected,
              checked=len(stored_ids) * MEMBERS, lost=lost)
    assert lost == 0
    assert max(throttled.attempts) <= max_attempts  # retries are bounded
    # The run went through both failure paths (fixed seed, so this is stable).
    assert throttled.injected > 0 and error_frames > 0 and stream_retries > 0
