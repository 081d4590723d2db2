"""What a person does in the site, as functions of a Playwright page.

Locators use what the user sees (labels, roles, button names) so the tests
read like the issue: "fill Username", "click Sign up", "the log shows …".
"""

from __future__ import annotations

import uuid

from playwright.sync_api import Locator, Page, expect

PASSWORD = "correct horse battery"


def unique(prefix: str) -> str:
    """A name no other test uses (usernames and rooms share one server per module)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def sign_up(page: Page, site_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(site_url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()
    expect_live(page)


def expect_live(page: Page) -> None:
    expect(connection(page)).to_have_attribute("data-status", "live")


def connection(page: Page) -> Locator:
    return page.locator(".connection")


def join(page: Page, room: str) -> None:
    page.get_by_label("Room", exact=True).fill(room)
    page.get_by_role("button", name="Join").click()
    expect(log(page)).to_have_attribute("aria-label", f"Messages in #{room}")
    expect(log(page)).to_have_attribute("aria-busy", "false")


def send(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def log(page: Page) -> Locator:
    return page.get_by_role("log")


def confirmed(page: Page, text: str | None = None) -> Locator:
    """Messages the server stored (not our own still waiting for the echo)."""
    items = log(page).locator("li.message:not(.pending):not(.failed)")
    return items.filter(has_text=text) if text is not None else items


def texts(page: Page) -> list[str]:
    """The confirmed messages' texts, top to bottom."""
    return confirmed(page).locator(".text").all_inner_texts()
