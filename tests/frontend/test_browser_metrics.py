"""The local metrics page in a real browser: a message sent shows up, and axe finds nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.frontend.accessibility import DESKTOP, PHONE, axe_violations
from tests.frontend.chat_page import confirmed, join, send, sign_up, unique

pytestmark = pytest.mark.browser


def test_a_message_sent_shows_on_the_local_metrics_page(server, open_page, shots):
    chat = open_page(**DESKTOP)
    sign_up(chat, server.url, unique("metrics"))
    join(chat, unique("metrics-"))
    page = open_page(**DESKTOP)
    page.goto(f"{server.url}/_local/metrics")
    stored = page.locator("#stored")  # the definition of "Messages stored"
    expect(page.get_by_role("heading", name="Local metrics", level=1)).to_be_visible()
    page.wait_for_function("document.body.dataset.updated !== undefined")
    before = int(stored.inner_text())
    send(chat, "counted on the metrics page")
    expect(confirmed(chat, "counted on the metrics page")).to_have_count(1)
    expect(stored).not_to_have_text(str(before), timeout=15_000)
    assert int(stored.inner_text()) > before
    expect(page.locator("#sent")).not_to_have_text("0")
    expect(page.get_by_role("img", name="Messages and deliveries per second")).to_be_visible()
    shots(page, "local-metrics")
    assert axe_violations(page) == []


def test_the_local_metrics_page_passes_axe_at_phone_width(server, open_page):
    page = open_page(**PHONE)
    page.goto(f"{server.url}/_local/metrics")
    expect(page.get_by_role("heading", name="Local metrics", level=1)).to_be_visible()
    page.wait_for_function("document.body.dataset.updated !== undefined")
    assert axe_violations(page) == []
