"""The site keeps its session fresh and ends it on the server (PROTOCOL.md v2: refresh, logout).

Tokens of this module's server live one hour and five seconds, so the site,
which renews a token once less than an hour is left, renews within seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.chatapp.chat_client import call
from tests.frontend.chat_page import confirmed, expect_live, send, sign_up, unique
from tests.support.localserver import LocalServer, start_local_server

TOKEN_LIFETIME_SECONDS = 3605
RENEWAL_DEADLINE_MS = 30_000


@pytest.fixture(scope="module")
def server(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    running = start_local_server(
        tmp_path_factory.mktemp("session-data"),
        env={"TOKEN_LIFETIME_SECONDS": str(TOKEN_LIFETIME_SECONDS)},
    )
    yield running
    running.stop()


def stored_session(page: Page) -> dict:
    return json.loads(page.evaluate("() => localStorage.getItem('chat.session')"))


def test_the_site_renews_its_token_before_it_expires_and_keeps_chatting(server, open_page):
    page = open_page()
    sign_up(page, server.url, unique("rita"))
    first = stored_session(page)
    page.wait_for_function(
        "token => JSON.parse(localStorage.getItem('chat.session')).token !== token",
        arg=first["token"],
        timeout=RENEWAL_DEADLINE_MS,
    )
    renewed = stored_session(page)
    assert renewed["username"] == first["username"]
    assert renewed["expiresAt"] > first["expiresAt"]
    assert call(server.api_url, "/refresh", token=renewed["token"])[0] == 200
    expect_live(page)
    send(page, "still here after a renewal")
    expect(confirmed(page, "still here after a renewal")).to_have_count(1)


def test_log_out_ends_the_session_on_the_server_too(server, open_page):
    page = open_page()
    sign_up(page, server.url, unique("otto"))
    token = stored_session(page)["token"]
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    status, body = call(server.api_url, "/refresh", token=token)
    assert (status, body["Code"]) == (401, "UnauthorizedError")


def test_a_session_revoked_elsewhere_returns_to_the_form_saying_why(server, open_page):
    page = open_page()
    sign_up(page, server.url, unique("vera"))
    token = stored_session(page)["token"]
    assert call(server.api_url, "/logout", token=token)[0] == 204  # another device logs out
    # The socket is closed by the server; the site tries to renew, is refused,
    # and says so on the login form.
    expect(page.get_by_label("Username")).to_be_visible(timeout=RENEWAL_DEADLINE_MS)
    expect(page.get_by_text("it could not be renewed. Please log in again.")).to_be_visible()
