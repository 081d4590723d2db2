"""Hypothesis against a running `chatapp serve`: generated WebSocket frames and REST bodies.

Whatever a client sends: no 5xx, no handler exception in the server's log, an
answer for every frame (an error frame for a bad one, never a closed
connection), and nothing stored from a rejected frame: every message the
rooms hold is one whose sendMessage was answered by its echo.
"""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.settings import LIMITS
from tests.support.chatclient import ChatClient, signup
from tests.support.localserver import server_fixture

FRAME_EXAMPLES = 700
REST_EXAMPLES = 400
ERROR_CODES = {"bad_request", "unknown_action", "too_large", "rate_limited", "forbidden",
               "not_found"}  # not "internal"
REPLY_TIMEOUT = 15.0
HOME_ROOMS = ["fuzz-a", "fuzz-b"]

FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,  # no example database in the work tree; failures print their input
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.large_base_example],
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
)
anything = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                         inner, max_size=4),
    max_leaves=8,
)
message_ids = st.one_of(st.from_regex(r"\A[0-9]{12}\Z"), st.text(max_size=30))
rooms = st.one_of(st.sampled_from(HOME_ROOMS), st.from_regex(r"\A[a-z0-9_-]{1,70}\Z"),
                  st.text(max_size=70))
texts = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=string.whitespace, max_size=5),
    st.integers(3990, 4010).map(lambda n: "é" * n),  # around the limit, in characters
    st.integers(32_700, 33_000).map(lambda n: "x" * n),  # around the 32 KB frame limit
)
fields = {
    "text": st.one_of(texts, anything),
    "clientId": st.one_of(st.text(max_size=70), anything),
    "limit": st.one_of(st.integers(-5, 105), anything),
    "before": st.one_of(message_ids, anything),
    "after": st.one_of(message_ids, anything),
    "room": st.one_of(rooms, anything),
    "id": st.one_of(message_ids, anything),
    "sender": st.text(max_size=10),
    "sinceRev": st.one_of(st.integers(-3, 1_000), anything),
}
actions = st.one_of(
    st.sampled_from(["sendMessage", "getMessages", "joinRoom", "ping", "getMembers", "typing",
                     "editMessage", "deleteMessage", "markRead", "getChanges"]),
    anything,
)
json_frames = st.fixed_dictionaries(
    {"action": actions}, optional=fields
).map(json.dumps)
# Valid frames too, so that sends are stored and pages are read between the bad ones.
valid_frames = st.one_of(
    st.fixed_dictionaries({"action": st.just("sendMessage"), "text": st.text(min_size=1)},
                          optional={"clientId": st.text(min_size=1, max_size=64)}),
    st.fixed_dictionaries({"action": st.just("getMessages")},
                          optional={"limit": st.integers(1, 100), "before": message_ids}),
    st.fixed_dictionaries({"action": st.just("joinRoom"), "room": st.sampled_from(HOME_ROOMS)}),
    st.just({"action": "ping"}),
).map(json.dumps)
frames = st.one_of(
    valid_frames, json_frames, json_frames,
    st.text(max_size=100),  # not JSON
    anything.map(json.dumps),  # JSON that is not an object
    st.binary(max_size=100),  # a binary frame
)

credentials = st.fixed_dictionaries(
    {}, optional={"username": st.one_of(st.from_regex(r"\A[A-Za-z0-9_.-]{1,40}\Z"), anything),
                  "password": st.one_of(st.text(min_size=6, max_size=300), anything)},
)
bodies = st.one_of(credentials.map(json.dumps), anything.map(json.dumps), st.binary(max_size=200))


# A server of its own: its whole log is this test's, and its rooms hold only fuzz.
server = server_fixture(rate_limit=0)


class Session:
    """One client connection; frames are sent one at a time and each waits for its answer."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.username, self.token = signup(server.api_url, "fuzz")
        self.room = HOME_ROOMS[0]
        self.client = ChatClient(server.ws_url, self.token, self.room)
        self.echoed: dict[str, set[str]] = {}  # room -> ids of messages echoed to us
        self.client_ids: dict[str, set[str]] = {}  # room -> clientIds of those messages
        self.visited = {self.room}
        self.tried = 0

    def exchange(self, frame: str | bytes) -> None:
        self.tried += 1
        self.client.send_raw(frame)
        if self.repeats_a_client_id(frame) or self.is_typing(frame):
            # A repeat is stored and delivered once (PROTOCOL.md): no echo; typing goes
            # to other users only. At most an error if the frame is bad; a ping after it
            # tells when the server is done with it.
            self.client.send("ping")
            while (reply := self.receive())["type"] != "pong":
                assert reply["type"] == "error", f"a repeated clientId answered {reply}"
            return
        self.receive()

    def receive(self) -> dict[str, Any]:
        reply = self.client.recv(REPLY_TIMEOUT)  # TimeoutError or a close fails the test
        assert "type" in reply, f"not a protocol frame (a handler failed?): {reply}"
        if reply["type"] == "error":
            assert reply["code"] in ERROR_CODES, reply
        elif reply["type"] == "message":  # an accepted sendMessage, echoed by the fan-out
            message = reply["message"]
            assert (message["room"], message["sender"]) == (self.room, self.username)
            self.echoed.setdefault(self.room, set()).add(message["id"])
            if "clientId" in message:
                self.client_ids.setdefault(self.room, set()).add(message["clientId"])
        elif reply["type"] == "joined":
            self.room = reply["room"]
            self.visited.add(self.room)
        else:
            # An edit or delete that hit one of our messages (ids are small seqs now,
            # so generated ones can) is answered by the fan-out's frame about it.
            assert reply["type"] in ("pong", "messages", "members", "read", "changes",
                                     "messageUpdated", "messageDeleted"), reply
        return reply

    @staticmethod
    def is_typing(frame: str | bytes) -> bool:
        try:
            fields = json.loads(frame)
        except ValueError:
            return False
        return isinstance(fields, dict) and fields.get("action") == "typing"

    def repeats_a_client_id(self, frame: str | bytes) -> bool:
        try:
            fields = json.loads(frame)
        except ValueError:
            return False
        return (
            isinstance(fields, dict)
            and fields.get("action") == "sendMessage"
            and isinstance(fields.get("clientId"), str)
            and fields["clientId"] in self.client_ids.get(self.room, set())
        )


def stored_ids(server: Any, token: str, room: str) -> set[str]:
    with ChatClient(server.ws_url, token, room) as reader:
        found: set[str] = set()
        before = None
        while True:
            fields = {"limit": 100} if before is None else {"limit": 100, "before": before}
            page = reader.request("getMessages", "messages", **fields)
            found |= {m["id"] for m in page["messages"]}
            if not page["hasMore"]:
                return found
            before = page["messages"][0]["id"]


# websockets draws its frame masks from `random`; Hypothesis warns about any use of it.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
def test_generated_frames_and_bodies_never_break_the_server(server, tally):
    session = Session(server)

    @settings(FUZZ_SETTINGS, max_examples=FRAME_EXAMPLES)
    @given(frame=frames)
    def one_frame(frame: str | bytes) -> None:
        session.exchange(frame)

    rest_tried = {"count": 0}

    @settings(FUZZ_SETTINGS, max_examples=REST_EXAMPLES)
    @given(path=st.sampled_from(["/signup", "/login"]), body=bodies)
    def one_body(path: str, body: str | bytes) -> None:
        rest_tried["count"] += 1
        status, answer = raw_post(server.api_url + path, body)
        assert status in (200, 201, 400, 401, 409, 429), (status, answer)
        if status >= 400:
            assert set(answer) == {"Code", "Message"}, answer

    one_frame()
    one_body()
    session.client.close()

    # Nothing stored that was not accepted: every room we were in holds exactly our echoes.
    for room in session.visited | set(HOME_ROOMS):
        assert stored_ids(server, session.token, room) == session.echoed.get(room, set()), room
    log = server.logs()
    assert "Traceback" not in log, log[-5000:]
    assert " 500 " not in log

    tried = session.tried + rest_tried["count"]
    accepted = sum(len(ids) for ids in session.echoed.values())
    print(f"fuzz: {session.tried} WebSocket frames ({accepted} stored), "
          f"{rest_tried['count']} REST bodies")
    tally.add(inputs=tried, checked=accepted)
    assert tried >= 1000


# What a hostile client tries beyond random input (PROTOCOL.md: all 400 / bad_request).
# Each class is a function of the JSON text of a valid object, so it reaches
# the parser as the one thing wrong with the input.
DEPTH = LIMITS.json_max_depth
HOSTILE_CLASSES = {
    "nesting 33 deep": lambda ok: ok[:-1] + ', "x": ' + "[" * DEPTH + "]" * DEPTH + "}",
    "nesting 30000 deep": lambda ok: ok[:-1] + ', "x": ' + "[" * 30_000,  # fits 32 KB
    "unpaired surrogate in a value": lambda ok: ok[:-1] + ', "x": "\\ud800"}',
    "unpaired surrogate in a key": lambda ok: ok[:-1] + ', "\\udc00": 1}',
    "NaN": lambda ok: ok[:-1] + ', "x": NaN}',
    "Infinity": lambda ok: ok[:-1] + ', "x": Infinity}',
    "-Infinity": lambda ok: ok[:-1] + ', "x": -Infinity}',
    "a number beyond a float": lambda ok: ok[:-1] + ', "x": 1e400}',
    "an integer of 5000 digits": lambda ok: ok[:-1] + ', "x": ' + "7" * 5000 + "}",
    "a key given twice": lambda ok: ok[:-1] + ', "x": 1, "x": 2}',
    "a leading BOM": lambda ok: "\ufeff" + ok,
    "invalid UTF-8": lambda ok: ok.encode()[:-1] + b', "x": "\xc3\x28\xff"}',
    "only a key of 20000 characters": lambda ok: '{"' + "k" * 20_000 + '": 1}',
}


def test_hostile_json_is_refused_and_stores_nothing(server, tally):
    """Each class, as a WebSocket frame and as a signup and login body: 400, nothing stored."""
    _, token = signup(server.api_url, "hostile")
    room = "fuzz-hostile"
    tried = 0
    with ChatClient(server.ws_url, token, room) as client:
        for name, spoil in HOSTILE_CLASSES.items():
            frame = spoil(json.dumps({"action": "sendMessage", "text": name, "clientId": "h"}))
            client.send_raw(frame)
            reply = client.recv(REPLY_TIMEOUT)
            assert (reply["type"], reply["code"]) == ("error", "bad_request"), (name, reply)
            assert "clientId" not in reply or reply["clientId"] == "h"
            username = f"hostile{tried:03d}"
            body = spoil(json.dumps({"username": username, "password": "correct horse"}))
            for path in ("/signup", "/login"):
                status, answer = raw_post(server.api_url + path, body)
                assert (status, answer["Code"]) == (400, "BadRequestError"), (name, path, answer)
            # Nothing was stored: the name is free, and the room is empty.
            status, _ = raw_post(server.api_url + "/login",
                                 json.dumps({"username": username, "password": "correct horse"}))
            assert status == 401, name
            tried += 3
        assert client.request("ping", "pong") == {"type": "pong"}  # the connection lived on
    assert stored_ids(server, token, room) == set()
    log = server.logs()
    assert "Traceback" not in log, log[-5000:]
    assert " 500 " not in log
    tally.add(inputs=tried, hostile_classes=len(HOSTILE_CLASSES))


# The rooms routes of protocol v3: generated paths and bodies, signed in (no 5xx, ever).
ROOMS_EXAMPLES = 300
# 405: Chalice's local router decodes %23 / %3F in a path segment before matching it
# (the rest of the path then reads as a fragment or query), so no route has the method.
ROOMS_STATUSES = {200, 201, 204, 400, 403, 404, 405, 409}
segments = st.one_of(
    st.sampled_from(HOME_ROOMS), st.from_regex(r"\A[A-Za-z0-9_.-]{1,40}\Z"),
    st.text(min_size=1, max_size=70),
)
room_fields = {
    "room": st.one_of(rooms, anything), "kind": st.one_of(
        st.sampled_from(["public", "private", "direct"]), anything),
    "username": st.one_of(st.from_regex(r"\A[A-Za-z0-9_.-]{1,40}\Z"), anything),
    "id": st.one_of(message_ids, anything),
    "reason": st.one_of(st.text(max_size=20), st.integers(495, 505).map(lambda n: "r" * n),
                        anything),
}
room_bodies = st.one_of(
    st.fixed_dictionaries({}, optional=room_fields).map(json.dumps),
    anything.map(json.dumps), st.binary(max_size=100),
)
room_calls = st.one_of(
    st.tuples(st.just("POST"), st.sampled_from(["/rooms", "/dms", "/reports"]), room_bodies),
    st.tuples(st.sampled_from(["PUT", "DELETE"]),
              st.tuples(st.sampled_from(["/rooms/{}/members/{}", "/rooms/{}/moderators/{}"]),
                        segments, segments).map(lambda t: t[0].format(
                            quote(t[1], safe=""), quote(t[2], safe=""))),
              st.just(b"")),
    st.tuples(st.sampled_from(["PUT", "DELETE"]),
              segments.map(lambda name: "/blocks/" + quote(name, safe="")), st.just(b"")),
    st.tuples(st.just("GET"), st.one_of(
        st.just("/blocks"), st.just("/reports"),
        segments.map(lambda p: "/directory?prefix=" + quote(p, safe=""))), st.just(b"")),
)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
def test_generated_calls_on_the_rooms_routes_never_break_the_server(server, tally):
    _, token = signup(server.api_url, "fuzzrooms")
    tried = {"count": 0}

    @settings(FUZZ_SETTINGS, max_examples=ROOMS_EXAMPLES)
    @given(call=room_calls)
    def one_call(call: tuple[str, str, str | bytes]) -> None:
        method, path, body = call
        tried["count"] += 1
        status, answer = raw_request(method, server.api_url + path, body, token)
        assert status in ROOMS_STATUSES, (method, path, body, status, answer)
        if status >= 400 and isinstance(answer, dict) and "Code" in answer:
            assert set(answer) == {"Code", "Message"}, answer

    one_call()
    for name, spoil in HOSTILE_CLASSES.items():  # each hostile body on each POST route
        for path, ok in (("/rooms", {"room": "fuzz-hostile-room", "kind": "private"}),
                         ("/dms", {"username": "nobody-at-all"}),
                         ("/reports", {"room": "fuzz-a", "id": "x", "reason": "r"})):
            status, answer = raw_request("POST", server.api_url + path,
                                         spoil(json.dumps(ok)), token)
            assert (status, answer["Code"]) == (400, "BadRequestError"), (name, path, answer)
            tried["count"] += 1
    log = server.logs()
    assert "Traceback" not in log, log[-5000:]
    assert " 500 " not in log
    tally.add(inputs=tried["count"])


def raw_request(method: str, url: str, body: str | bytes, token: str) -> tuple[int, Any]:
    """One call with exactly these bytes and a Bearer token; (status, parsed body or None)."""
    import urllib.error
    import urllib.request

    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    request = urllib.request.Request(
        url, data=data or None, method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:  # the local router's own "404: Not Found" for a path it cannot match
        return status, raw.decode(errors="replace")


def raw_post(url: str, body: str | bytes) -> tuple[int, Any]:
    """POST exactly these bytes (tests.support.chatclient.call would JSON-encode them)."""
    import urllib.error
    import urllib.request

    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")

