"""DynamoDB applies a sendMessage's write but its answer is lost; botocore retries.

The retry meets the write it already made. The client must not be told the
send failed while the message goes out anyway (it would send it again).
"""

from __future__ import annotations

import pytest

from chalicelib import store
from tests.reliability.dynamodb_faults import DynamoDBFaults
from tests.support.inprocess import message_ids


@pytest.fixture
def lossy(backend, fast_backoff):
    faults = DynamoDBFaults(rate=0.0, seed=1)
    faults.install(store.client())
    return faults


def test_with_a_client_id_a_lost_answer_is_stored_and_delivered_once(backend, lossy, tally):
    alice, bob = backend.join("alice", "lobby"), backend.join("bob", "lobby")
    lossy.lose_first_answer = {"TransactWriteItems"}
    frame = {"action": "sendMessage", "text": "hello", "clientId": "c-1"}
    assert backend.send(alice, frame) == []  # no error frame: it was stored
    backend.deliver(backend.new_records())
    stored = backend.stored("lobby")
    assert [m["clientId"] for m in stored] == ["c-1"]
    assert message_ids(backend.outbox.frames(bob)) == [stored[0]["id"]]
    tally.add(inputs=1, faults=lossy.injected, checked=2)


def test_without_a_client_id_a_lost_answer_is_not_reported_as_a_failure(backend, lossy):
    alice = backend.join("alice", "lobby")
    lossy.lose_first_answer = {"PutItem"}
    replies = backend.send(alice, {"action": "sendMessage", "text": "hello"})
    assert len(backend.stored("lobby")) == 1  # DynamoDB has it either way
    assert replies == []  # no error frame for a message that is stored and delivered
