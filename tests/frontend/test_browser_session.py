"""The site keeps its session fresh and ends it on the server (PROTOCOL.md v3, Sessions).

Access tokens of this module's server live 125 seconds, so the site, which
renews one when less than two minutes are left, renews within seconds. The
access token lives in memory only; the one-time refresh token in localStorage.
"""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect

from tests.frontend.chat_page import PASSWORD, confirmed, expect_live, send, sign_up, unique
from tests.support.chatclient import call
from tests.support.localserver import server_fixture

TOKEN_LIFETIME_SECONDS = 125
RENEWAL_DEADLINE_MS = 30_000


server = server_fixture(
    env={"TOKEN_LIFETIME_SECONDS": str(TOKEN_LIFETIME_SECONDS)}, requires=("browser",)
)


def stored_session(page: Page) -> dict:
    return json.loads(page.evaluate("() => localStorage.getItem('chat.session')"))


def storage_text(page: Page) -> str:
    return page.evaluate("() => JSON.stringify(Object.entries(localStorage))")


def test_the_site_renews_its_token_before_it_expires_and_keeps_chatting(server, open_page):
    page = open_page()
    sign_up(page, server.url, unique("rita"))
    first = stored_session(page)
    assert set(first) == {"username", "refreshToken", "refreshExpiresAt"}
    page.wait_for_function(
        "old => JSON.parse(localStorage.getItem('chat.session')).refreshToken !== old",
        arg=first["refreshToken"],
        timeout=RENEWAL_DEADLINE_MS,
    )
    renewed = stored_session(page)
    assert renewed["username"] == first["username"]
    assert renewed["refreshExpiresAt"] == first["refreshExpiresAt"]  # 30 days from the login
    # The first refresh token was spent by the renewal: it is refused now (and
    # presenting it ends the session, which is what a thief would do).
    assert "eyJ" not in storage_text(page)  # no access token (a JWT) is ever stored
    expect_live(page)
    send(page, "still here after a renewal")
    expect(confirmed(page, "still here after a renewal")).to_have_count(1)


def test_a_reload_stays_signed_in_without_storing_an_access_token(server, open_page):
    page = open_page()
    name = unique("rhea")
    sign_up(page, server.url, name)
    page.reload()
    expect_live(page)
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()
    assert "eyJ" not in storage_text(page)


def test_log_out_ends_the_session_on_the_server_too(server, open_page):
    page = open_page()
    sign_up(page, server.url, unique("otto"))
    refresh_token = stored_session(page)["refreshToken"]
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    status, body = call(server.api_url, "/refresh", {"refreshToken": refresh_token})
    assert (status, body["Code"]) == (401, "UnauthorizedError")
    assert page.evaluate("() => localStorage.getItem('chat.session')") is None


def test_a_session_ended_elsewhere_returns_to_the_form_saying_why(server, open_page):
    page = open_page()
    name = unique("vera")
    sign_up(page, server.url, name)
    # Another device of the same user logs out everywhere.
    status, other = call(server.api_url, "/login", {"username": name, "password": PASSWORD})
    assert status == 200
    assert call(server.api_url, "/logout", {"everywhere": True}, token=other["token"])[0] == 204
    # The socket gets `unauthorized` and is closed; the site tries to renew, is
    # refused, and says so on the login form.
    expect(page.get_by_label("Username")).to_be_visible(timeout=RENEWAL_DEADLINE_MS)
    expect(page.get_by_text("it could not be renewed. Please log in again.")).to_be_visible()
