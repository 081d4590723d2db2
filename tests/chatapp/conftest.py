"""One `chatapp serve` subprocess for the whole area; tests use unique users and rooms.

`db` and `ddb`: an embedded DynamoDB of a module's own, and a client of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chatapp.dynamodb import EmbeddedDynamoDB
from chatapp.tables import client
from tests.support.localserver import server_fixture

# A running `chatapp serve` with its own data dir (default limits).
local_server = server_fixture(scope="session")


@pytest.fixture(scope="module")
def db() -> Iterator[EmbeddedDynamoDB]:
    database = EmbeddedDynamoDB().start()
    yield database
    database.stop()


@pytest.fixture(scope="module")
def ddb(db: EmbeddedDynamoDB) -> Any:
    return client(db.endpoint)
