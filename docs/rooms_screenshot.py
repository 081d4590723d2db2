"""Regenerate docs/rooms.png: an owner's view of a private room (headless chromium).

    .venv/bin/python docs/rooms_screenshot.py

Starts its own `chatapp serve` on a free loopback port with a throwaway data
dir, drives three users through the site as the browser tests do, and saves
the owner's window.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.frontend.chat_page import confirmed, join, log, send, sign_up  # noqa: E402
from tests.support.chromium import CHROMIUM_ARGS, executable  # noqa: E402
from tests.support.localserver import start_local_server  # noqa: E402

OUT = ROOT / "docs" / "rooms.png"


def main() -> None:
    with tempfile.TemporaryDirectory() as data:
        server = start_local_server(Path(data), "--rate-limit", "0")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable(),
                                                     args=CHROMIUM_ARGS)
                pages = {name: browser.new_context(viewport={"width": 1100, "height": 640})
                         .new_page() for name in ("maria", "tomas", "lena")}
                for name, page in pages.items():
                    sign_up(page, server.url, name)
                maria, tomas = pages["maria"], pages["tomas"]
                maria.get_by_role("button", name="New room").click()
                maria.get_by_label("Room name").fill("design-team")
                maria.get_by_role("button", name="Create room").click()
                expect(log(maria)).to_have_attribute("aria-label", "Messages in #design-team")
                for guest in ("tomas", "lena"):
                    maria.get_by_role("button", name="Invite", exact=True).click()
                    maria.get_by_label("Username").fill(guest)
                    maria.get_by_role("button", name="Add to room").click()
                    expect(maria.get_by_text(f"{guest} is now a member.")).to_be_visible()
                    maria.get_by_role("dialog").get_by_role("button", name="Close").click()
                join(tomas, "design-team")
                join(pages["lena"], "design-team")
                send(tomas, "Mock-ups for the new onboarding are in the shared folder.")
                send(maria, "Thanks! Reviewing them this afternoon.")
                send(pages["lena"], "I left comments on screens 3 and 4.")
                expect(confirmed(maria)).to_have_count(3)
                maria.get_by_role("list", name="Members").get_by_role(
                    "button", name="Message tomas").click()
                send(maria, "Quick question about screen 2?")
                maria.get_by_role("navigation", name="Rooms").get_by_role(
                    "button", name="design-team").click()
                expect(confirmed(maria)).to_have_count(3)
                maria.screenshot(path=str(OUT))
                browser.close()
        finally:
            server.stop()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
