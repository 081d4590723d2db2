"""Per-message stage instants (chatapp/stages.py): what bench/load.py --stages reads."""

from __future__ import annotations

import json

from chatapp.stages import StageTrace


def send_frame(client_id: str) -> str:
    return json.dumps({"action": "sendMessage", "text": "hi", "clientId": client_id})


def stream_event(*client_ids: str) -> dict:
    return {"Records": [{"dynamodb": {"NewImage": {"client_id": {"S": c}}}} for c in client_ids]}


def posted(*client_ids: str) -> bytes:
    frames = [{"type": "message", "message": {"id": "1", "clientId": c}} for c in client_ids]
    return json.dumps({"type": "batch", "frames": frames}).encode()


def test_nothing_is_marked_until_a_trace_is_started():
    trace = StageTrace()
    trace.frame(send_frame("a"))
    trace.posted(posted("a"))
    trace.start()
    assert trace.take() == {"messages": {}}


def test_a_message_is_followed_by_its_client_id_through_every_stand_in():
    trace = StageTrace()
    trace.start()
    trace.frame(send_frame("a"))
    trace.invocation({"body": send_frame("a")}, started=2.0, ended=3.0, queued=1.5)
    trace.records_read(stream_event("a", "b")["Records"])
    trace.invocation(stream_event("a", "b"), started=5.0, ended=6.0, queued=4.0)
    trace.posted(posted("a", "b"))
    trace.posted(posted("a"))
    trace.written(posted("a"))
    stages = trace.take()["messages"]
    assert set(stages["a"]) == {
        "received", "handlerStart", "committed", "read", "batchQueued", "batchStart",
        "firstPost", "lastPost", "batchEnd", "lastWrite",
    }
    assert (stages["a"]["handlerStart"], stages["a"]["committed"]) == (2.0, 3.0)
    assert (stages["b"]["batchQueued"], stages["b"]["batchStart"]) == (4.0, 5.0)
    assert stages["a"]["firstPost"] <= stages["a"]["lastPost"] <= stages["a"]["lastWrite"]
    assert trace.take() == {"messages": {}}  # handed over once, and tracing stopped
    trace.frame(send_frame("c"))
    assert not trace.enabled and trace.take() == {"messages": {}}


def test_frames_and_posts_that_are_not_messages_are_ignored():
    trace = StageTrace()
    trace.start()
    trace.frame(json.dumps({"action": "getMessages"}))
    trace.frame("not json")
    trace.posted(b'{"type": "presence", "users": []}')
    trace.posted(b"[1, 2]")
    trace.invocation({"body": "{}"}, 1.0, 2.0, 0.5)
    assert trace.take() == {"messages": {}}
