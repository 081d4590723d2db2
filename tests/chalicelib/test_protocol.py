"""Frame parsing and building details not visible through one handler call."""

from __future__ import annotations

import json

from chalicelib import protocol
from chalicelib.model import Message
from chalicelib.settings import LIMITS


def message(i: int, text: str) -> Message:
    return Message("r", f"{i:013d}-{i:010x}", "alice", text, "2026-01-01T00:00:00.000Z")


def encoded_size(frame) -> int:
    return len(protocol.encode(frame).encode())


def test_frames_keep_unicode_unescaped_so_a_full_text_fits_one_frame():
    frame = protocol.message_frame(message(1, "😀" * LIMITS["text_max"]))
    assert encoded_size(frame) <= LIMITS["frame_max_bytes"]


def test_a_history_page_paging_back_keeps_the_newest_and_fits():
    page = [message(i, "é" * LIMITS["text_max"]) for i in range(10)]
    frame = protocol.messages_frame("r", page, has_more=False, keep_newest=True)
    assert encoded_size(frame) <= LIMITS["frame_max_bytes"]
    assert frame["messages"][-1]["id"] == page[-1].id
    assert frame["hasMore"] is True


def test_a_history_page_catching_up_keeps_the_oldest_and_fits():
    page = [message(i, "é" * LIMITS["text_max"]) for i in range(10)]
    frame = protocol.messages_frame("r", page, has_more=False, keep_newest=False)
    assert encoded_size(frame) <= LIMITS["frame_max_bytes"]
    assert frame["messages"][0]["id"] == page[0].id
    assert frame["hasMore"] is True


def test_a_small_page_is_untouched():
    page = [message(i, "hi") for i in range(3)]
    frame = protocol.messages_frame("r", page, has_more=False, keep_newest=True)
    assert [m["id"] for m in frame["messages"]] == [m.id for m in page]
    assert frame["hasMore"] is False


def test_frame_size_is_measured_in_bytes():
    text = "é" * (LIMITS["frame_max_bytes"] // 2)  # under the limit in characters only
    try:
        protocol.parse_frame(json.dumps({"action": "ping", "pad": text}, ensure_ascii=False))
    except protocol.errors.TooLarge:
        return
    raise AssertionError("a frame over 32 KB in bytes was accepted")


def test_lone_surrogates_are_measured_without_crashing():
    frame = protocol.parse_frame('{"action": "sendMessage", "text": "\\ud800 hi"}')
    assert frame.name == "sendMessage"


def test_echo_is_lenient_and_skips_unusable_client_ids():
    assert protocol.echoed_fields("nope") == {}
    assert protocol.echoed_fields('{"action": "ping", "clientId": 5}') == {"action": "ping"}
    assert protocol.echoed_fields('{"action": "x", "clientId": "c"}') == {"clientId": "c"}
