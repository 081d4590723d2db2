"""Snapshots of the embedded database: written by a forked child, read back at start."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatapp.dynamodb import EmbeddedDynamoDB
from chatapp.snapshots import SNAPSHOT_NAME
from chatapp.tables import client, table_names
from tests.support.chatclient import unique


@pytest.fixture(scope="module")
def saved_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedDynamoDB]:
    database = EmbeddedDynamoDB(data_dir=tmp_path_factory.mktemp("saved-db")).start()
    yield database
    database.stop()


def saved_items(path: Path, table: str) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["tables"][table]


def put_message(ddb: Any, room: str, text: str) -> None:
    ddb.put_item(
        TableName=table_names()["messages"],
        Item={
            "room": {"S": room},
            "id": {"S": "1"},
            "text": {"S": text},
            "blob": {"B": b"\x00\xff"},
        },
    )


def test_a_child_writes_the_snapshot_of_every_item_as_stored(saved_db):
    ddb, room = client(saved_db.endpoint), unique("room")
    path = saved_db.data_dir / SNAPSHOT_NAME
    put_message(ddb, room, "first")

    assert saved_db.snapshot_in_child()

    [item] = [i for i in saved_items(path, table_names()["messages"]) if i["room"]["S"] == room]
    assert item["text"] == {"S": "first"} and item["blob"] == {"B": "AP8="}  # base64, as restored
    put_message(ddb, room, "second")  # the database serves on; the next snapshot has it
    assert saved_db.snapshot_in_child()
    [item] = [i for i in saved_items(path, table_names()["messages"]) if i["room"]["S"] == room]
    assert item["text"] == {"S": "second"}


def test_a_child_that_fails_leaves_the_last_snapshot_and_the_data_marked_unsaved(saved_db):
    ddb, room = client(saved_db.endpoint), unique("room")
    path = saved_db.data_dir / SNAPSHOT_NAME
    put_message(ddb, room, "kept")
    assert saved_db.snapshot_in_child()
    before = path.read_text()
    put_message(ddb, room, "not yet saved")
    temporary = path.with_suffix(".tmp")
    temporary.mkdir()  # the child cannot write its file
    try:
        assert not saved_db.snapshot_in_child()
        assert path.read_text() == before
        assert saved_db._middleware is not None and saved_db._middleware.dirty.is_set()
    finally:
        temporary.rmdir()
    assert saved_db.snapshot_in_child()
    [item] = [i for i in saved_items(path, table_names()["messages"]) if i["room"]["S"] == room]
    assert item["text"] == {"S": "not yet saved"}


def test_a_child_that_hangs_is_killed_and_the_data_stays_marked_unsaved(saved_db, monkeypatch):
    import time

    from chatapp import dynamodb, motointernals

    path = saved_db.data_dir / SNAPSHOT_NAME
    put_message(client(saved_db.endpoint), unique("room"), "kept")
    assert saved_db.snapshot_in_child()
    before = path.read_text()
    put_message(client(saved_db.endpoint), unique("room"), "not yet saved")
    monkeypatch.setattr(motointernals, "table_items", lambda names: time.sleep(600))
    monkeypatch.setattr(dynamodb, "SNAPSHOT_CHILD_SECONDS", 0.5)

    assert not saved_db.snapshot_in_child()  # the forked copy hangs: killed after 0.5 s

    assert path.read_text() == before
    assert saved_db._middleware is not None and saved_db._middleware.dirty.is_set()
