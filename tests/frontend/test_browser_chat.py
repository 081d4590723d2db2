"""The site in a real browser (Debian's chromium) against `chatapp serve`."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from chalicelib.settings import LIMITS
from tests.frontend.chat_page import (
    PASSWORD,
    confirmed,
    connection,
    expect_live,
    join,
    log,
    send,
    sign_up,
    texts,
    unique,
)
from tests.support.chatclient import login, send_messages, signup
from tests.support.localserver import start_local_server

pytestmark = pytest.mark.browser


def test_two_users_sign_up_and_exchange_messages_live(server, open_page, shots):
    room = unique("live-")
    alice, bob = open_page(), open_page(width=400, height=720, dark=True)
    sign_up(alice, server.url, unique("alice"))
    sign_up(bob, server.url, unique("bob"))
    join(alice, room)
    join(bob, room)

    send(alice, "hi bob, can you read me?")
    expect(confirmed(bob, "hi bob, can you read me?")).to_have_count(1)
    send(bob, "loud and clear")
    expect(confirmed(alice, "loud and clear")).to_have_count(1)

    # Own messages are distinguished; the other person's are not.
    expect(confirmed(alice, "hi bob")).to_have_class("message own")
    expect(confirmed(alice, "loud and clear")).to_have_class("message")
    assert texts(alice) == texts(bob) == ["hi bob, can you read me?", "loud and clear"]
    shots(alice, "alice")
    shots(bob, "bob")


def test_a_later_joiner_sees_the_history(server, open_page, shots):
    room = unique("history-")
    alice, bob = open_page(), open_page()
    sign_up(alice, server.url, unique("alice"))
    sign_up(bob, server.url, unique("bob"))
    join(alice, room)
    join(bob, room)
    send(alice, "first")
    expect(confirmed(bob, "first")).to_have_count(1)
    send(bob, "second")
    expect(confirmed(alice, "second")).to_have_count(1)

    carol = open_page()
    sign_up(carol, server.url, unique("carol"))
    join(carol, room)
    expect(confirmed(carol)).to_have_count(2)
    assert texts(carol) == ["first", "second"]
    shots(carol, "carol-joins-later")


def test_a_reload_keeps_the_session_the_room_and_the_history(server, open_page, shots):
    room = unique("reload-")
    page = open_page()
    user = unique("dana")
    sign_up(page, server.url, user)
    join(page, room)
    for text in ("one", "two", "three"):
        send(page, text)
    expect(confirmed(page)).to_have_count(3)

    page.reload()
    expect_live(page)
    expect(page.get_by_label("Username")).to_have_count(0)
    expect(page.get_by_text(f"Signed in as {user}")).to_be_visible()
    expect(log(page)).to_have_attribute("aria-label", f"Messages in #{room}")
    expect(confirmed(page)).to_have_count(3)
    assert texts(page) == ["one", "two", "three"]
    shots(page, "after-reload")


def test_the_form_explains_what_the_server_refused(server, open_page, shots):
    name = unique("lee")
    signup(server.api_url, username=name, password=PASSWORD)
    page = open_page(width=360, height=640)
    page.goto(server.url)
    alert = page.get_by_role("alert")
    page.get_by_label("Username").fill(name.upper())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(alert).to_have_text("That username is taken. Choose another, or log in if it is yours.")

    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(alert).to_have_text("Wrong username or password.")
    shots(page, "wrong-password")
    # The rest of the allowed failures, then even the right password is refused.
    for _ in range(LIMITS.login_failures_per_user_ip - 1):
        assert login(server.api_url, name, "still not it")[0] == 401
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(alert).to_have_text("Too many failed attempts. Wait a few minutes, then try again.")


def test_everything_works_from_the_keyboard(server, open_page):
    name = unique("kbd")
    signup(server.api_url, username=name, password=PASSWORD)
    page = open_page()
    page.goto(server.url)
    # The Username field has focus; Tab reaches Password; Enter logs in.
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect_live(page)

    room = unique("keys-")
    page.get_by_label("Room", exact=True).focus()
    page.keyboard.type(room)
    page.keyboard.press("Enter")
    expect(log(page)).to_have_attribute("aria-label", f"Messages in #{room}")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Join")).to_be_focused()
    page.keyboard.press("Tab")  # the open room's actions (v3)
    expect(page.get_by_role("button", name="Leave room")).to_be_focused()
    rooms = page.get_by_role("navigation", name="Rooms", exact=True)
    expect(rooms.get_by_role("button", name=room)).to_be_visible()
    for button in rooms.get_by_role("button").all():  # the reader's rooms, in order
        page.keyboard.press("Tab")
        expect(button).to_be_focused()
    page.keyboard.press("Tab")
    expect(log(page)).to_be_focused()  # scrollable with the arrow and page keys
    page.keyboard.press("Tab")
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()
    page.keyboard.type("typed without a mouse")
    page.keyboard.press("Enter")
    expect(confirmed(page, "typed without a mouse")).to_have_count(1)


def test_log_out_returns_to_the_form_for_good(server, open_page):
    page = open_page()
    sign_up(page, server.url, unique("hana"))
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Username")).to_be_visible()


def test_an_expired_session_goes_back_to_the_form_with_a_message(server, open_page):
    page = open_page()
    sign_up(page, server.url, unique("ivan"))
    page.evaluate(
        """() => {
          const session = JSON.parse(localStorage.getItem('chat.session'));
          session.refreshExpiresAt = new Date(Date.now() - 1000).toISOString();
          localStorage.setItem('chat.session', JSON.stringify(session));
        }"""
    )
    page.reload()
    expect(page.get_by_text("Your session has expired. Please log in again.")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_visible()


def test_a_refused_token_goes_back_to_the_form_with_a_message(server, open_page):
    page = open_page()
    page.goto(server.url)
    forged = {"username": "judy", "refreshToken": "made-up",
              "refreshExpiresAt": "2099-01-01T00:00:00Z"}
    page.evaluate("s => localStorage.setItem('chat.session', s)", json.dumps(forged))
    page.reload()
    expect(page.get_by_text("The server no longer accepts your session")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_visible()


def test_an_html_payload_shows_as_literal_text(server, open_page, shots):
    room = unique("html-")
    payload = (
        '<img src=x onerror="window.__pwned = 1">'
        "<script>window.__pwned = 2</script><b>bold?</b>"
    )
    sender, reader = open_page(), open_page()
    sign_up(sender, server.url, unique("mallory"))
    sign_up(reader, server.url, unique("victim"))
    join(sender, room)
    join(reader, room)

    send(sender, payload)
    expect(confirmed(reader)).to_have_count(1)
    assert texts(reader) == [payload]
    for page in (sender, reader):
        assert log(page).locator("img, script, b").count() == 0
        assert page.evaluate("window.__pwned") is None
    shots(reader, "html-as-text")


def test_links_open_safely_and_long_words_never_widen_the_page(server, open_page, shots):
    room = unique("wrap-")
    page = open_page(width=360, height=640)
    sign_up(page, server.url, unique("erin"))
    join(page, room)
    send(page, "docs at https://example.com/chat?x=1. Thanks")
    send(page, "A" * 600)
    expect(confirmed(page)).to_have_count(2)

    link = log(page).get_by_role("link", name="https://example.com/chat?x=1")
    expect(link).to_have_attribute("href", "https://example.com/chat?x=1")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shots(page, "narrow-360px")


def test_the_composer_sends_on_enter_breaks_lines_on_shift_enter_and_counts_near_the_limit(
    server, open_page, shots
):
    page = open_page()
    sign_up(page, server.url, unique("kim"))
    join(page, unique("composer-"))
    box = page.get_by_role("textbox", name="Message")
    box.type("first line")
    box.press("Shift+Enter")
    box.type("second line")
    box.press("Enter")
    expect(confirmed(page)).to_have_count(1)
    assert texts(page) == ["first line\nsecond line"]
    expect(box).to_have_value("")

    box.fill("x" * 3600)
    expect(page.get_by_text("3600 / 4000")).to_be_visible()
    box.fill("x" * 4001)
    expect(page.get_by_text("4001 / 4000")).to_be_visible()
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    shots(page, "composer-over-limit")


def test_scrolling_to_the_top_loads_older_messages_without_jumping(server, open_page, shots):
    room = unique("paging-")
    _, token = signup(server.api_url, username=unique("seeder"), password=PASSWORD)
    send_messages(server.ws_url, token, room, [f"seed {n:03d}" for n in range(1, 131)])

    page = open_page()
    sign_up(page, server.url, unique("frank"))
    join(page, room)
    # The newest page (history_max = 100 messages) is shown, scrolled to its bottom.
    expect(confirmed(page, "seed 130")).to_be_in_viewport()
    expect(confirmed(page)).to_have_count(100)
    expect(confirmed(page, "seed 031")).to_have_count(1)
    expect(confirmed(page, "seed 030")).to_have_count(0)

    oldest_shown = confirmed(page, "seed 031")
    # Where the oldest shown message is at the moment the reader reaches the top
    # (read in the same task as the scroll, before the older page can arrive).
    top_before = log(page).evaluate(
        """el => {
          el.scrollTop = 0;
          return el.querySelector('li[data-id]').getBoundingClientRect().y;
        }"""
    )
    expect(confirmed(page, "seed 001")).to_have_count(1)
    expect(log(page).get_by_text("This is the start of")).to_be_attached()
    # The message that was at the top stays where the reader was looking.
    assert abs(oldest_shown.bounding_box()["y"] - top_before) < 40
    assert texts(page) == [f"seed {n:03d}" for n in range(1, 131)]
    shots(page, "older-page-loaded")


def test_a_reader_scrolled_up_gets_a_new_messages_pill(server, open_page, shots):
    room = unique("pill-")
    _, token = signup(server.api_url, username=unique("talker"), password=PASSWORD)
    send_messages(server.ws_url, token, room, [f"line {n}" for n in range(40)])
    page = open_page()
    sign_up(page, server.url, unique("gina"))
    join(page, room)
    expect(confirmed(page)).to_have_count(40)

    log(page).evaluate("el => { el.scrollTop = 0; }")
    send_messages(server.ws_url, token, room, ["while you were reading"])
    pill = page.get_by_role("button", name="New messages")
    expect(pill).to_be_visible()
    expect(confirmed(page, "while you were reading")).not_to_be_in_viewport()
    shots(page, "new-messages-pill")
    pill.click()
    expect(confirmed(page, "while you were reading")).to_be_in_viewport()
    expect(pill).to_have_count(0)


def test_rate_limit_errors_show_beside_the_composer(open_page, tmp_path, shots):
    limited = start_local_server(tmp_path / "data", rate_limit=3)
    try:
        page = open_page()
        sign_up(page, limited.url, unique("hasty"))
        # 7 > 2 x 3: however the fixed 10 s windows fall, one of them overflows.
        for n in range(7):
            send(page, f"burst {n}")
        expect(page.locator(".composer-notice")).to_contain_text("too fast")
        failed = log(page).locator("li.message.failed")
        expect(failed.first).to_be_visible()
        expect(failed.first.get_by_role("button", name="Retry")).to_be_visible()
        shots(page, "rate-limited")
    finally:
        limited.stop()


def test_the_client_reconnects_after_a_server_restart_and_shows_what_was_sent_meanwhile(
    open_page, tmp_path, shots
):
    restartable = start_local_server(tmp_path / "data", rate_limit=0)
    try:
        room = unique("restart-")
        alice, bob = open_page(), open_page()
        sign_up(alice, restartable.url, unique("alice"))
        sign_up(bob, restartable.url, unique("bob"))
        join(alice, room)
        join(bob, room)
        send(alice, "before the restart")
        expect(confirmed(bob, "before the restart")).to_have_count(1)

        restartable.stop()
        for page in (alice, bob):
            expect(connection(page)).to_have_attribute("data-status", "reconnecting")
        send(bob, "typed while the server was down")
        expect(log(bob).locator("li.message.pending")).to_have_count(1)
        shots(bob, "while-down")
        # Alice's network drops too, so she is certainly away while the others talk.
        alice.context.set_offline(True)

        restartable.start()
        # Bob reconnects by himself (backoff capped at 30 s), catches up, and his
        # pending message goes out with its clientId.
        expect(connection(bob)).to_have_attribute("data-status", "live", timeout=45_000)
        expect(confirmed(bob, "typed while the server was down")).to_have_count(1)
        _, token = signup(restartable.api_url, username=unique("carol"), password=PASSWORD)
        send_messages(restartable.ws_url, token, room, ["sent while alice was away"])
        expect(confirmed(bob, "sent while alice was away")).to_have_count(1)
        expect(connection(alice)).to_have_attribute("data-status", "reconnecting")

        alice.context.set_offline(False)
        expect(connection(alice)).to_have_attribute("data-status", "live", timeout=45_000)
        expected = [
            "before the restart",
            "typed while the server was down",
            "sent while alice was away",
        ]
        for page in (alice, bob):
            for text in expected:
                expect(confirmed(page, text)).to_have_count(1)
            expect(log(page).locator("li.message.pending, li.message.failed")).to_have_count(0)
        assert texts(alice) == texts(bob) == expected
        shots(alice, "alice-after-restart")
    finally:
        restartable.stop()
