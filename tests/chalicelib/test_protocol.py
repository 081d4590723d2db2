"""Frame parsing and building details not visible through one handler call."""

from __future__ import annotations

import json

import pytest

from chalicelib import errors, protocol
from chalicelib.model import Message
from chalicelib.settings import LIMITS


def message(i: int, text: str) -> Message:
    return Message("r", f"{i:013d}-{i:010x}", "alice", text, "2026-01-01T00:00:00.000Z")


def encoded_size(frame) -> int:
    return len(protocol.encode(frame).encode())


def test_frames_keep_unicode_unescaped_so_a_full_text_fits_one_frame():
    frame = protocol.message_frame(message(1, "😀" * LIMITS.text_max))
    assert encoded_size(frame) <= LIMITS.frame_max_bytes


def test_a_history_page_paging_back_keeps_the_newest_and_fits():
    page = [message(i, "é" * LIMITS.text_max) for i in range(10)]
    frame = protocol.messages_frame("r", page, has_more=False, keep_newest=True)
    assert encoded_size(frame) <= LIMITS.frame_max_bytes
    assert frame["messages"][-1]["id"] == page[-1].id
    assert frame["hasMore"] is True


def test_a_history_page_catching_up_keeps_the_oldest_and_fits():
    page = [message(i, "é" * LIMITS.text_max) for i in range(10)]
    frame = protocol.messages_frame("r", page, has_more=False, keep_newest=False)
    assert encoded_size(frame) <= LIMITS.frame_max_bytes
    assert frame["messages"][0]["id"] == page[0].id
    assert frame["hasMore"] is True


def test_a_small_page_is_untouched():
    page = [message(i, "hi") for i in range(3)]
    frame = protocol.messages_frame("r", page, has_more=False, keep_newest=True)
    assert [m["id"] for m in frame["messages"]] == [m.id for m in page]
    assert frame["hasMore"] is False


def test_frame_size_is_measured_in_bytes():
    text = "é" * (LIMITS.frame_max_bytes // 2)  # under the limit in characters only
    try:
        protocol.parse_frame(json.dumps({"action": "ping", "pad": text}, ensure_ascii=False))
    except protocol.errors.TooLarge:
        return
    raise AssertionError("a frame over 32 KB in bytes was accepted")


def test_lone_surrogates_are_measured_then_refused_without_crashing():
    try:
        protocol.parse_frame('{"action": "sendMessage", "text": "\\ud800 hi"}')
    except protocol.errors.InvalidInput as refused:
        assert refused.code == "bad_request"
        return
    raise AssertionError("an unpaired surrogate was accepted")


DEPTH = LIMITS.json_max_depth
HOSTILE_JSON = {
    "nested-33-arrays": "[" * (DEPTH + 1) + "]" * (DEPTH + 1),
    "nested-33-objects": '{"a":' * (DEPTH + 1) + "1" + "}" * (DEPTH + 1),
    "nested-100000": "[" * 100_000,
    "nan": '{"a": NaN}',
    "infinity": '{"a": Infinity}',
    "minus-infinity": '{"a": -Infinity}',
    "overflowing-float": '{"a": 1e999}',
    "huge-integer": '{"a": ' + "9" * 5000 + "}",
    "duplicate-key": '{"a": 1, "a": 2}',
    "bom-text": '\ufeff{"a": 1}',
    "bom-bytes": b'\xef\xbb\xbf{"a": 1}',
    "invalid-utf8": b'{"a": "\xff\xfe"}',
    "lone-high-surrogate": '{"a": "\\ud800"}',
    "lone-low-surrogate-in-a-key": '{"\\udc00": 1}',
    "surrogate-deep-in-a-list": '{"a": [[["x\\udbff"]]]}',
}


@pytest.mark.parametrize("raw", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
def test_hostile_json_is_invalid_input(raw):
    with pytest.raises(errors.InvalidInput) as refused:
        protocol.parse_json(raw, "body")
    assert refused.value.code == "bad_request"


def test_nesting_of_exactly_32_levels_is_allowed():
    assert protocol.parse_json("[" * DEPTH + "]" * DEPTH, "body") is not None


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = '"' + "[" * 1000 + '\\"{"'
    assert protocol.parse_json(text, "body") == "[" * 1000 + '"{'


def test_paired_surrogates_are_fine():
    assert protocol.parse_json('{"a": "\\ud83d\\ude00"}', "body") == {"a": "😀"}


def test_an_error_frame_echoes_nothing_from_a_hostile_frame():
    deep = '{"action": "ping", "clientId": "c", "x": ' + "[" * 5000 + "}"
    assert protocol.echoed_fields(deep) == {}
    assert protocol.echoed_fields('{"action": "ping", "clientId": "\\ud800"}') == {}
