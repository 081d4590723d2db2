"""What survives a restart, and `chatapp db` + `chatapp serve --dynamodb-endpoint`."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from chatapp.tables import client, table_names
from tests.support.chatclient import ChatClient, call, signup, unique
from tests.support.localserver import chatapp_command, free_port, start_local_server
from tests.support.waiting import wait_until


def test_tokens_and_messages_survive_a_restart_and_a_kill(tmp_path):
    room = unique("room")
    with start_local_server(tmp_path / "data") as server:
        secret_file = server.data_dir / "jwt-secret"
        secret = secret_file.read_text()
        assert secret_file.stat().st_mode & 0o777 == 0o600
        username, token = signup(server.api_url)
        with ChatClient(server.ws_url, token, room) as chat:
            chat.send("sendMessage", text="before the restart")
            before = chat.messages(1)[0]

        server.restart()
        assert secret_file.read_text() == secret
        with ChatClient(server.ws_url, token, room) as chat:  # same token, no new login
            history = chat.request("getMessages", "messages")["messages"]
            assert history == [before]
            chat.send("sendMessage", text="after the restart")
            after = chat.messages(1)[0]
            assert after["id"] > before["id"]
            caught_up = chat.request("getMessages", "messages", after=before["id"])
            assert caught_up["messages"] == [after]

        server.kill()  # no shutdown work at all: the database child still saves
        server.start()
        login = {"username": username, "password": "correct horse"}
        status, body = call(server.api_url, "/login", login)
        assert status == 200, body
        with ChatClient(server.ws_url, token, room) as chat:
            texts = [m["text"] for m in chat.request("getMessages", "messages")["messages"]]
            assert texts == ["before the restart", "after the restart"]


@pytest.fixture
def standalone_db(tmp_path: Path):
    port = free_port()
    process = subprocess.Popen(
        [*chatapp_command(), "db", "--port", str(port), "--data-dir", str(tmp_path / "db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def ready_or_ended() -> bool:
        line = process.stdout.readline()
        return "Ctrl-C" in line or not line

    wait_until(ready_or_ended, "chatapp db to say it is ready", 30, interval=0)
    assert process.poll() is None, "chatapp db exited"
    yield endpoint
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)


def test_chatapp_db_serves_the_tables_and_serve_can_use_it(tmp_path, standalone_db):
    ddb = client(standalone_db)
    assert set(table_names().values()) <= set(ddb.list_tables()["TableNames"])

    with start_local_server(tmp_path / "serve", "--dynamodb-endpoint", standalone_db) as server:
        _, token = signup(server.api_url)
        room = unique("room")
        with ChatClient(server.ws_url, token, room) as chat:
            chat.send("sendMessage", text="stored in the external database")
            chat.messages(1)
            connections = ddb.scan(TableName=table_names()["connections"])["Items"]
            assert [c["room"]["S"] for c in connections] == [room]
    messages = ddb.scan(TableName=table_names()["messages"])["Items"]
    assert [m["text"]["S"] for m in messages] == ["stored in the external database"]
    assert ddb.scan(TableName=table_names()["connections"])["Items"] == []  # $disconnect ran
    assert os.path.exists(tmp_path / "serve" / "jwt-secret")


def test_unreachable_dynamodb_endpoint_is_a_clear_error(tmp_path):
    nothing_there = f"http://127.0.0.1:{free_port()}"
    command = [*chatapp_command(), "serve", "--port", str(free_port())]
    result = subprocess.run(
        [*command, "--data-dir", str(tmp_path), "--dynamodb-endpoint", nothing_there],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot use DynamoDB at http://127.0.0.1:" in result.stderr


def test_connections_never_survive_a_restart_of_serve(tmp_path, standalone_db):
    ddb = client(standalone_db)
    names = table_names()
    with start_local_server(tmp_path / "serve", "--dynamodb-endpoint", standalone_db) as server:
        (_, ghost_token), (_, token) = signup(server.api_url), signup(server.api_url)
        room = unique("room")
        ghost = ChatClient(server.ws_url, ghost_token, room)
        ghost.request("ping", "pong")
        server.kill()  # no $disconnect: the records stay behind in the database
        assert ddb.scan(TableName=names["connections"])["Items"] != []
        server.start()
        assert ddb.scan(TableName=names["connections"])["Items"] == []
        memberships = ddb.scan(TableName=names["memberships"])["Items"]
        assert memberships and all("connections" not in m for m in memberships)
        with ChatClient(server.ws_url, token, room) as chat:
            members = chat.request("getMembers", "members")
            assert members["count"] == 1
