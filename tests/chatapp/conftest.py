"""One `chatapp serve` subprocess for the whole area; tests use unique users and rooms."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.localserver import LocalServer, start_local_server


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A running `chatapp serve` with its own data dir (default limits)."""
    server = start_local_server(tmp_path_factory.mktemp("chatapp-serve"))
    yield server
    server.stop()
