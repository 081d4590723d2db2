"""Protocol v3's rooms in a real browser: private rooms, direct messages from
the members list, a moderator's removal, reports reaching an admin, and
axe-core's WCAG 2.1 AA rules on every view, desktop and phone."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.frontend.accessibility import DESKTOP, PHONE, axe_violations
from tests.frontend.chat_page import confirmed, join, log, send, sign_up, unique
from tests.support.localserver import server_fixture

pytestmark = pytest.mark.browser
# One admin per test that needs one: each signs up fresh in its own browser context.
ADMINS = {use: f"admin{uuid.uuid4().hex[:8]}" for use in ("reports", "desktop", "phone")}


# This module's server has its admins (and no rate limit, as the others).
server = server_fixture(rate_limit=0, admins=list(ADMINS.values()), requires=("browser",))


def members(page: Page):
    return page.get_by_role("list", name="Members", exact=True)


def new_room(page: Page, room: str, kind: str = "Private") -> None:
    page.get_by_role("button", name="New room").click()
    dialog = page.get_by_role("dialog", name="New room")
    dialog.get_by_label("Room name").fill(room)
    dialog.get_by_label(kind, exact=False).check()
    dialog.get_by_role("button", name="Create room").click()
    expect(log(page)).to_have_attribute("aria-label", f"Messages in #{room}")


def invite(page: Page, room: str, username: str) -> None:
    page.get_by_role("button", name="Invite", exact=True).click()
    dialog = page.get_by_role("dialog", name=f"Invite to #{room}")
    dialog.get_by_label("Username").fill(username)
    dialog.get_by_role("button", name="Add to room").click()
    expect(dialog.get_by_role("status")).to_have_text(f"{username} is now a member.")
    dialog.get_by_role("button", name="Close").click()


def test_two_people_talk_in_a_private_room_a_third_cannot_open(server, open_page, shots):
    room = unique("private-")
    alice_name, bob_name, carol_name = unique("alice"), unique("bob"), unique("carol")
    alice, bob, carol = open_page(**DESKTOP), open_page(), open_page()
    sign_up(bob, server.url, bob_name)
    sign_up(alice, server.url, alice_name)
    new_room(alice, room)
    invite(alice, room, bob_name)
    join(bob, room)
    send(alice, "just us two")
    expect(confirmed(bob, "just us two")).to_have_count(1)
    send(bob, "indeed")
    expect(confirmed(alice, "indeed")).to_have_count(1)

    sign_up(carol, server.url, carol_name)
    carol.get_by_label("Room", exact=True).fill(room)
    carol.get_by_role("button", name="Join", exact=True).click()
    expect(carol.get_by_text("Could not join the room: Not allowed")).to_be_visible()
    expect(log(carol)).to_have_attribute("aria-label", "Messages in #general")
    expect(confirmed(carol, "just us two")).to_have_count(0)
    shots(alice, "private-room")


def test_a_direct_message_from_the_members_list(server, open_page):
    room = unique("lobby-")
    alice_name, bob_name = unique("alice"), unique("bob")
    alice, bob = open_page(**DESKTOP), open_page(**DESKTOP)
    sign_up(alice, server.url, alice_name)
    join(alice, room)
    sign_up(bob, server.url, bob_name)
    join(bob, room)
    members(alice).get_by_role("button", name=f"Message {bob_name}").click()
    nav = alice.get_by_role("navigation", name="Rooms")
    direct = nav.get_by_role("list", name="Direct messages")
    expect(direct.get_by_role("button", name=bob_name)).to_be_visible()
    expect(alice.get_by_role("heading", name=bob_name, exact=True)).to_be_visible()
    send(alice, "a word in private")
    expect(confirmed(alice, "a word in private")).to_have_count(1)

    bob.evaluate("window.dispatchEvent(new Event('focus'))")  # the rooms list refreshes
    bob_direct = bob.get_by_role("navigation", name="Rooms").get_by_role(
        "list", name="Direct messages")
    bob_direct.get_by_role("button", name=alice_name).click()
    expect(confirmed(bob, "a word in private")).to_have_count(1)


def test_a_moderator_removes_someone(server, open_page):
    room = unique("team-")
    owner_name, bob_name = unique("owner"), unique("bob")
    owner, bob = open_page(**DESKTOP), open_page(**DESKTOP)
    sign_up(bob, server.url, bob_name)
    sign_up(owner, server.url, owner_name)
    new_room(owner, room)
    invite(owner, room, bob_name)
    join(bob, room)
    members(owner).get_by_role("button", name=f"Remove {bob_name}").click()
    expect(bob.get_by_text(f"You are no longer in #{room}.")).to_be_visible()
    expect(log(bob)).to_have_attribute("aria-label", "Messages in #general")
    expect(members(owner).get_by_role("listitem").filter(has_text=bob_name)).to_have_count(0)


def test_a_report_reaches_the_admins_list(server, open_page, shots):
    room = unique("public-")
    bob_name, carol_name = unique("bob"), unique("carol")
    bob, carol, admin = open_page(**DESKTOP), open_page(**DESKTOP), open_page(**DESKTOP)
    sign_up(bob, server.url, bob_name)
    join(bob, room)
    send(bob, "buy cheap watches")
    sign_up(carol, server.url, carol_name)
    join(carol, room)
    message = confirmed(carol, "buy cheap watches")
    message.get_by_role("button", name="Report message").click()
    dialog = carol.get_by_role("dialog", name="Report message")
    dialog.get_by_label("Reason").fill("spam")
    dialog.get_by_role("button", name="Send report").click()
    expect(dialog.get_by_role("status")).to_have_text("Reported. Thank you.")

    expect(carol.get_by_role("button", name="Reports")).to_have_count(0)  # no admin
    sign_up(admin, server.url, ADMINS["reports"])
    admin.get_by_role("button", name="Reports").click()
    reports = admin.get_by_role("dialog", name="Reports")
    item = reports.get_by_role("listitem").filter(has_text="buy cheap watches")
    expect(item).to_contain_text(f"Reported by {carol_name}")
    expect(item).to_contain_text("spam")
    shots(admin, "reports")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_view_passes_axe_wcag_21_aa(server, open_page, viewport):
    page = open_page(**viewport)
    page.goto(server.url)
    expect(page.get_by_role("button", name="Sign up")).to_be_visible()
    found = {"login": axe_violations(page)}
    sign_up(page, server.url, ADMINS["desktop" if viewport is DESKTOP else "phone"])
    room = unique("axe-")
    join(page, room)
    send(page, "a message of my own, with Edit and Delete")
    expect(confirmed(page, "a message of my own")).to_have_count(1)
    found["chat"] = axe_violations(page)
    for button, view in (("Directory", "directory"), ("New room", "room creation"),
                         ("Reports", "reports")):
        page.get_by_role("button", name=button, exact=True).click()
        expect(page.get_by_role("dialog")).to_be_visible()
        found[view] = axe_violations(page)
        page.get_by_role("dialog").get_by_role("button", name="Close").click()
    assert {view: v for view, v in found.items() if v} == {}
