"""One `chatapp serve` subprocess for the whole area; tests use unique users and rooms."""

from __future__ import annotations

from tests.support.localserver import server_fixture

# A running `chatapp serve` with its own data dir (default limits).
local_server = server_fixture(scope="session")
