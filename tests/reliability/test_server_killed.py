"""`chatapp serve` killed (SIGKILL) in the middle of a conversation, then started again.

The clients do what PROTOCOL.md asks of a reconnecting client: reconnect with
the same token, catch up with getMessages `after` the last id they saw, and
send again (same clientId) whatever they sent without seeing its echo. The
timeline each client ends with must be the room's history: no gap, nothing
twice.
"""

from __future__ import annotations

from typing import Any

from websockets.exceptions import ConnectionClosed

from tests.support.chatclient import ChatClient, signup, unique
from tests.support.localserver import start_local_server

WARM_UP = 5
BURST = 20
KILL_AFTER = 3  # burst messages bob sees before the kill
RECEIVE_TIMEOUT = 15.0


def drain(client: ChatClient) -> list[dict[str, Any]]:
    """Every frame already received on a connection the server dropped."""
    frames = []
    while True:
        try:
            frames.append(client.recv(timeout=5.0))
        except (ConnectionClosed, TimeoutError):
            return frames


def catch_up(client: ChatClient, after: str | None) -> list[dict[str, Any]]:
    """getMessages after `after`, page by page, until hasMore is false."""
    caught: list[dict[str, Any]] = []
    while True:
        fields = {"limit": 100} if after is None else {"limit": 100, "after": after}
        page = client.request("getMessages", "messages", **fields)
        caught += page["messages"]
        if not page["hasMore"] or not page["messages"]:
            return caught
        after = page["messages"][-1]["id"]


def timeline(*parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages by id, each once, in id order (what a client shows)."""
    by_id = {m["id"]: m for part in parts for m in part}
    return [by_id[key] for key in sorted(by_id)]


def test_clients_reconnect_after_a_kill_and_catch_up_with_no_gap(tmp_path, tally):
    server = start_local_server(tmp_path / "data", rate_limit=0)
    try:
        (alice, alice_token), (_, bob_token) = signup(server.api_url), signup(server.api_url)
        room = unique("room")
        a, b = (ChatClient(server.ws_url, token, room) for token in (alice_token, bob_token))
        for n in range(WARM_UP):
            a.send("sendMessage", text=f"warm-up {n}", clientId=f"w{n}")
        seen = {name: c.messages(WARM_UP, RECEIVE_TIMEOUT) for name, c in (("a", a), ("b", b))}

        # A burst, and the server dies while it is in flight, once bob saw a few
        # of it: some delivered, some stored only, some never processed.
        sent = {f"burst-{n}": f"burst {n}" for n in range(BURST)}
        for client_id, text in sent.items():
            a.send("sendMessage", text=text, clientId=client_id)
        seen["b"] += b.messages(KILL_AFTER, RECEIVE_TIMEOUT)
        server.kill()
        for name, client in (("a", a), ("b", b)):
            seen[name] += [f["message"] for f in drain(client) if f.get("type") == "message"]

        live_before_kill = {name: len(seen[name]) - WARM_UP for name in seen}
        server.start()  # same port, same data dir: the tokens stay valid
        a, b = (ChatClient(server.ws_url, token, room) for token in (alice_token, bob_token))
        for name, client in (("a", a), ("b", b)):
            last = max((m["id"] for m in seen[name]), default=None)
            seen[name] = timeline(seen[name], catch_up(client, last))

        # Alice sends again what she never saw echoed; the clientId makes it idempotent.
        echoed = {m.get("clientId") for m in seen["a"]}
        resent = [cid for cid in sent if cid not in echoed]
        caught = {name: len(seen[name]) - WARM_UP - live_before_kill[name] for name in seen}
        print(f"burst of {BURST}: seen live before the kill {live_before_kill}, caught up "
              f"after it {caught}, sent again {len(resent)}")
        for client_id in resent:
            a.send("sendMessage", text=sent[client_id], clientId=client_id)
        a.send("sendMessage", text="after the restart", clientId="after")
        for name, client in (("a", a), ("b", b)):
            live = client.messages(len(resent) + 1, RECEIVE_TIMEOUT)
            seen[name] = timeline(seen[name], live)

        history = catch_up(a, None)
        a.close()
        b.close()
    finally:
        server.stop()

    history_ids = [m["id"] for m in history]
    assert len(history_ids) == len(set(history_ids))
    # Every message alice sent is stored exactly once, the burst included.
    client_ids = sorted(m["clientId"] for m in history if m["sender"] == alice)
    assert client_ids == sorted([f"w{n}" for n in range(WARM_UP)] + [*sent, "after"])
    lost = 0
    for name in ("a", "b"):
        ids = [m["id"] for m in seen[name]]
        lost += len(set(history_ids) - set(ids))
        assert ids == history_ids, f"{name}'s timeline differs from the room's history"
    tally.add(inputs=WARM_UP + BURST + len(resent) + 1, faults=1,
              checked=2 * len(history_ids), lost=lost)
