"""How fast the site shows a room of 500 messages (budget from issue 4: within 1 s).

Run from the project root after `make site`:

    .venv/bin/python bench/frontend_open.py [--messages 500] [--runs 5]

It starts `chatapp serve` (no rate limit), seeds one room with N messages over
the WebSocket API, then drives Debian's chromium with Playwright. What "shows a
room of 500 messages" means here: the protocol pages history at 100 messages,
so opening shows the newest page; older pages load as the reader scrolls up.
Figures, each the median / min / max over --runs:

- join:   in the chat view (page loaded, socket live, another room shown), the
          reader types the room and presses Join; from the click to the first
          animation frame after the newest message is in the log (joinRoom,
          joined, getMessages, render). This is "opening a room" in the budget.
- load:   a signed-in reader loads the page with that room as their current
          room; from navigation start (performance.timeOrigin) to the same
          frame. Split into startup (navigation → new WebSocket: HTML, JS,
          /config.json, first render), handshake (→ open), history
          (getMessages sent → its answer; the local server's time) and render
          (answer → the frame showing it).
- back:   the reader clicks the room again in "recent rooms" after visiting
          another: shown from memory at once, then caught up (after = last id).
- all:    from the first scroll to the top until every one of the N messages
          is in the log (N/100 - 1 further pages, each fetched on reaching the top).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.chatclient import login, send_messages, signup
from tests.support.chromium import CHROMIUM_ARGS, executable
from tests.support.localserver import start_local_server

BUDGET_MS = 1000.0
SITE_INDEX = PROJECT_ROOT / "frontend" / "dist" / "index.html"

# Installed before the app runs: resolves window.__shown(id) with the time of the
# first animation frame after an element with that data-id is in the DOM.
WATCHER = """
window.__ws = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    const times = { created: performance.now() };
    window.__ws.push(times);
    this.addEventListener('open', () => { times.open = performance.now(); });
    const send = this.send.bind(this);
    this.send = (data) => {
      if (times.asked === undefined && String(data).includes('getMessages')) {
        times.asked = performance.now();
      }
      send(data);
    };
    this.addEventListener('message', (event) => {
      if (times.answered === undefined && JSON.parse(event.data).type === 'messages') {
        times.answered = performance.now();
      }
    });
  }
};
window.__shown = (id) => new Promise((resolve) => {
  const found = () => document.querySelector(`[role=log] li[data-id="${id}"]`);
  const done = () => requestAnimationFrame(() => resolve(performance.now()));
  if (found()) return done();
  const observer = new MutationObserver(() => {
    if (found()) { observer.disconnect(); done(); }
  });
  observer.observe(document, { childList: true, subtree: true });
});
window.__openShown = new Promise((resolve) => {
  document.addEventListener('DOMContentLoaded', () => {
    const id = sessionStorage.getItem('bench.lastId');
    if (id) window.__shown(id).then(resolve);
  });
});
"""


def session_script(session: dict, room: str, last_id: str) -> str:
    """localStorage as the site leaves it after a login in `room`."""
    return (
        f"localStorage.setItem('chat.session', {json.dumps(json.dumps(session))});"
        f"localStorage.setItem('chat.room', {json.dumps(room)});"
        f"sessionStorage.setItem('bench.lastId', {json.dumps(last_id)});"
    )


def measure_all_pages(page: Page, first_id: str) -> float:
    """Scroll to the top until the oldest message is in; ms from the first scroll."""
    return page.evaluate(
        """async (firstId) => {
          const log = document.querySelector('[role=log]');
          const start = performance.now();
          const shown = window.__shown(firstId);
          const timer = setInterval(() => { log.scrollTop = 0; }, 16);
          log.scrollTop = 0;
          const at = await shown;
          clearInterval(timer);
          return at - start;
        }""",
        first_id,
    )


def run_once(
    browser: Browser,
    site_url: str,
    session: dict,
    room: str,
    stored: list[dict],
    figures: dict[str, list[float]],
) -> None:
    """One fresh browser context: load, all pages, join from elsewhere, back."""
    first_id, last_id = stored[0]["id"], stored[-1]["id"]
    context = browser.new_context(viewport={"width": 1024, "height": 720})
    context.add_init_script(WATCHER)
    context.add_init_script(session_script(session, room, last_id))
    page = context.new_page()
    page.goto(site_url)
    shown = page.evaluate("window.__openShown")
    socket = page.evaluate("window.__ws[0]")
    figures["load"].append(shown)
    figures["startup"].append(socket["created"])
    figures["handshake"].append(socket["open"] - socket["created"])
    figures["history"].append(socket["answered"] - socket["asked"])
    figures["render"].append(shown - socket["answered"])
    figures["all"].append(measure_all_pages(page, first_id))
    count = page.locator("[role=log] li.message").count()
    if count != len(stored):
        raise RuntimeError(f"expected {len(stored)} messages shown, got {count}")

    # A reader who opens the room from the chat view: a new page, first in another room.
    context.close()
    context = browser.new_context(viewport={"width": 1024, "height": 720})
    context.add_init_script(WATCHER)
    context.add_init_script(session_script(session, "elsewhere", last_id))
    page = context.new_page()
    page.goto(site_url)
    page.locator("[role=log][aria-busy=false]").wait_for()
    page.get_by_label("Room", exact=True).fill(room)
    figures["join"].append(timed_click(page, "Join", last_id))

    # Back to the first room and again to this one: shown from memory, then caught up.
    page.get_by_role("button", name="#elsewhere").click()
    page.get_by_role("log", name="Messages in #elsewhere").wait_for()
    figures["back"].append(timed_click(page, f"#{room}", last_id))
    context.close()


def timed_click(page: Page, button_text: str, last_id: str) -> float:
    """Click the button; ms until the frame after the message with last_id is shown."""
    return page.evaluate(
        """async ([text, lastId]) => {
          const button = [...document.querySelectorAll('button')]
            .find((b) => b.textContent === text);
          const start = performance.now();
          const shown = window.__shown(lastId);
          button.click();
          return (await shown) - start;
        }""",
        [button_text, last_id],
    )


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:9} median {statistics.median(values):7.1f} ms   "
        f"min {min(values):7.1f}   max {max(values):7.1f}   (n={len(values)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.messages < 1 or args.runs < 1:
        parser.error("--messages and --runs must be positive")
    chromium = executable()
    if chromium is None:
        print("Debian's chromium is missing (make chromium)", file=sys.stderr)
        return 2
    if not SITE_INDEX.exists():
        print("frontend/dist is not built (make site)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="bench-frontend-") as data_dir:
        server = start_local_server(Path(data_dir), "--rate-limit", "0")
        try:
            password = "bench password 123"
            _, seeder = signup(server.api_url, username="bench_seeder", password=password)
            room = "bench-500"
            texts = [f"bench message {n:04d}" for n in range(1, args.messages + 1)]
            stored = []
            for start in range(0, len(texts), 100):  # batches keep each echo wait short
                stored += send_messages(server.ws_url, seeder, room, texts[start : start + 100])
            signup(server.api_url, username="bench_reader", password=password)
            status, session = login(server.api_url, "bench_reader", password)
            if status != 200:
                raise RuntimeError(f"login bench_reader: HTTP {status} {session!r}")
            print(f"seeded {len(stored)} messages in #{room} on {server.url}")

            figures: dict[str, list[float]] = {
                name: [] for name in (
                    "join", "load", "startup", "handshake", "history", "render", "back", "all"
                )
            }
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                for _ in range(args.runs):
                    run_once(browser, server.url, session, room, stored, figures)
                browser.close()
        finally:
            server.stop()

    for name, values in figures.items():
        print(summary(name, values))
    for name, what in (("join", "joining it in the chat view"), ("load", "loading the page")):
        median = statistics.median(figures[name])
        verdict = "within" if median <= BUDGET_MS else "OVER"
        print(
            f"budget: newest page of a {len(stored)}-message room shown {median:.0f} ms after "
            f"{what} ({verdict} {BUDGET_MS:.0f} ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
