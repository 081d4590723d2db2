"""Protocol v2's room features in a real browser: members, typing, edit and
delete, the Rooms navigation with unread badges, and the phone layout."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.frontend.chat_page import confirmed, join, log, send, sign_up, unique

pytestmark = pytest.mark.browser
TYPING_CLEARS_WITHIN_MS = 10_000  # the line clears 4 s after the last typing frame


def members(page: Page):
    return page.get_by_role("list", name="Members", exact=True)


def rooms_nav(page: Page):
    return page.get_by_role("navigation", name="Rooms", exact=True)


def typing_line(page: Page):
    return page.locator("p.typing[role=status]")


def room_button(page: Page, room: str):
    return rooms_nav(page).get_by_role("button", name=re.compile(rf"^{re.escape(room)}\b"))


def refresh_rooms(page: Page) -> None:
    """What the browser does when the reader comes back to the window; returns once the
    site has the `/rooms` answer and has drawn it (the next animation frame after it)."""
    with page.expect_response(
        lambda response: response.url.endswith("/rooms") and response.request.method == "GET"
    ) as answer:
        page.evaluate("window.dispatchEvent(new Event('focus'))")
    answer.value.finished()
    page.evaluate("new Promise(drawn => requestAnimationFrame(() => setTimeout(drawn)))")


def test_two_people_see_presence_typing_an_edit_and_a_delete(server, open_page, shots):
    room = unique("team-")
    alice_name, bob_name = unique("alice"), unique("bob")
    alice, bob = open_page(width=1100), open_page()
    sign_up(alice, server.url, alice_name)
    join(alice, room)
    sign_up(bob, server.url, bob_name)
    join(bob, room)

    # Presence appears, in both lists.
    expect(members(alice).get_by_role("listitem").filter(has_text=bob_name)).to_have_count(1)
    expect(members(bob).get_by_role("listitem")).to_have_count(2)

    # Typing shows on the other side, then clears on its own.
    bob.get_by_role("textbox", name="Message").press_sequentially("hel")
    expect(typing_line(alice)).to_have_text(f"{bob_name} is typing…")
    expect(typing_line(bob)).to_have_text("")
    send(alice, "what's up?")  # so the screenshot has a conversation
    expect(confirmed(alice, "what's up?")).to_have_count(1)
    bob.get_by_role("textbox", name="Message").press_sequentially("lo")
    expect(typing_line(alice)).to_have_text(f"{bob_name} is typing…")
    shots(alice, "members-typing-rooms")
    expect(typing_line(alice)).to_have_text("", timeout=TYPING_CLEARS_WITHIN_MS)

    # An edit and a delete are seen by the other.
    send(bob, "teh plan")
    expect(confirmed(alice, "teh plan")).to_have_count(1)
    mine = confirmed(bob, "teh plan")
    mine.get_by_role("button", name="Edit message").click()
    editor = bob.get_by_role("textbox", name="Edit message text")
    editor.fill("the plan")
    editor.press("Enter")
    edited = confirmed(alice, "the plan")
    expect(edited).to_contain_text("(edited)")
    expect(confirmed(alice, "teh plan")).to_have_count(0)
    mine = confirmed(alice, "what's up?")
    expect(mine.get_by_role("button", name="Edit message")).to_have_count(1)
    expect(edited.get_by_role("button", name="Edit message")).to_have_count(0)  # not hers

    confirmed(bob, "the plan").get_by_role("button", name="Delete message").click()
    expect(confirmed(alice, "Message deleted")).to_have_count(1)
    expect(confirmed(alice, "the plan")).to_have_count(0)
    shots(alice, "edited-and-deleted")

    # Presence disappears when bob leaves.
    bob.close()
    expect(members(alice).get_by_role("listitem").filter(has_text=bob_name)).to_have_count(0)
    expect(members(alice).get_by_role("listitem")).to_have_count(1)


def test_escape_cancels_an_edit_and_everything_is_reachable_by_keyboard(server, open_page):
    page = open_page()
    sign_up(page, server.url, unique("kbd"))
    join(page, unique("keys-"))
    send(page, "first words")
    expect(confirmed(page, "first words")).to_have_count(1)
    page.get_by_role("textbox", name="Message").focus()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="Delete message")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="Edit message")).to_be_focused()
    page.keyboard.press("Enter")
    editor = page.get_by_role("textbox", name="Edit message text")
    expect(editor).to_be_focused()
    page.keyboard.type(" and more")
    page.keyboard.press("Escape")
    expect(editor).to_have_count(0)
    expect(confirmed(page, "first words")).not_to_contain_text("(edited)")
    page.get_by_role("button", name="Edit message").click()
    page.keyboard.type(" and more")
    page.keyboard.press("Enter")
    expect(confirmed(page, "first words and more")).to_contain_text("(edited)")


def test_an_unread_badge_counts_in_a_room_not_viewed_and_clears_when_opened(
        server, open_page, shots):
    news, elsewhere = unique("news-"), unique("else-")
    alice, bob = open_page(), open_page()
    sign_up(alice, server.url, unique("alice"))
    join(alice, news)
    sign_up(bob, server.url, unique("bob"))
    join(bob, news)
    join(bob, elsewhere)  # bob now views another room

    # Exactly one landmark is about rooms, and it is named exactly "Rooms".
    expect(bob.get_by_role("navigation", name=re.compile("Rooms"))).to_have_count(1)
    send(alice, "one")
    send(alice, "two")
    expect(confirmed(alice, "two")).to_have_count(1)
    refresh_rooms(bob)
    badge = room_button(bob, news).get_by_role("img", name="2 unread", exact=True)
    expect(badge).to_have_count(1)
    expect(room_button(bob, elsewhere).get_by_role("img")).to_have_count(0)
    shots(bob, "unread-badge")

    room_button(bob, news).click()
    expect(log(bob)).to_have_attribute("aria-label", f"Messages in #{news}")
    expect(confirmed(bob, "two")).to_have_count(1)
    expect(room_button(bob, news).get_by_role("img")).to_have_count(0)
    # The server's marker moved too: away again, the room still has nothing unread.
    room_button(bob, elsewhere).click()
    expect(log(bob)).to_have_attribute("aria-label", f"Messages in #{elsewhere}")
    expect(room_button(bob, news)).to_be_visible()
    refresh_rooms(bob)  # a badge would be drawn by the time it returns
    expect(room_button(bob, news).get_by_role("img")).to_have_count(0)


def test_at_phone_width_members_and_rooms_open_behind_buttons(server, open_page, shots):
    page = open_page(width=390, height=844)
    sign_up(page, server.url, unique("phone"))
    join(page, unique("pocket-"))
    expect(members(page)).to_be_hidden()
    expect(rooms_nav(page)).to_be_hidden()

    page.get_by_role("button", name="Members", exact=True).click()
    expect(members(page)).to_be_visible()
    expect(members(page).get_by_role("listitem")).to_have_count(1)
    shots(page, "phone-members")
    page.get_by_role("button", name="Rooms", exact=True).click()
    expect(members(page)).to_be_hidden()
    expect(rooms_nav(page)).to_be_visible()
    shots(page, "phone-rooms")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
