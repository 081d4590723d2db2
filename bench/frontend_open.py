"""How fast the site shows a room of 500 messages (budget from issue 4: within 1 s).

Run from the project root after `make site`:

    .venv/bin/python bench/frontend_open.py [--messages 500] [--runs 5]

It starts `chatapp serve` (no rate limit), seeds one room with N messages over
the WebSocket API, then drives Debian's chromium with Playwright. What "shows a
room of 500 messages" means here: the protocol pages history at 100 messages,
so opening shows the newest page; older pages load as the reader scrolls up.
Three figures, each the median / min / max over --runs:

- open:   a signed-in reader loads the page with that room as their current
          room; from navigation start (performance.timeOrigin) to the first
          animation frame after the newest message is in the log. Includes
          the JS, /config.json, the WebSocket handshake, getMessages and render.
- switch: already in the chat (page warm, socket open), the reader clicks the
          room in "recent rooms"; from the click to the frame showing the newest
          message.
- all:    from the first scroll to the top until every one of the N messages
          is in the log (N/100 - 1 further pages, each fetched on reaching the top).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from tests.frontend.chat_api import send_messages, sign_up  # noqa: E402
from tests.support.localserver import start_local_server  # noqa: E402

BUDGET_MS = 1000.0
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
SITE_INDEX = PROJECT_ROOT / "frontend" / "dist" / "index.html"

# Installed before the app runs: resolves window.__shown(id) with the time of the
# first animation frame after an element with that data-id is in the DOM.
WATCHER = """
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


def api_login(api_url: str, username: str, password: str) -> dict:
    import urllib.request

    request = urllib.request.Request(
        f"{api_url}/login",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


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


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:7} median {statistics.median(values):7.1f} ms   "
        f"min {min(values):7.1f}   max {max(values):7.1f}   (n={len(values)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.messages < 1 or args.runs < 1:
        parser.error("--messages and --runs must be positive")
    chromium = shutil.which("chromium")
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
            seeder = sign_up(server.api_url, "bench_seeder", password)
            room = "bench-500"
            texts = [f"bench message {n:04d}" for n in range(1, args.messages + 1)]
            stored = []
            for start in range(0, len(texts), 100):  # batches keep each echo wait short
                stored += send_messages(server.ws_url, seeder, room, texts[start : start + 100])
            first_id, last_id = stored[0]["id"], stored[-1]["id"]
            sign_up(server.api_url, "bench_reader", password)
            session = api_login(server.api_url, "bench_reader", password)
            print(f"seeded {len(stored)} messages in #{room} on {server.url}")

            opens, switches, alls = [], [], []
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                for _ in range(args.runs):
                    context = browser.new_context(viewport={"width": 1024, "height": 720})
                    context.add_init_script(WATCHER)
                    context.add_init_script(session_script(session, room, last_id))
                    page = context.new_page()
                    page.goto(server.url)
                    opens.append(page.evaluate("window.__openShown"))
                    alls.append(measure_all_pages(page, first_id))
                    count = page.locator("[role=log] li.message").count()
                    if count != len(stored):
                        raise RuntimeError(f"expected {len(stored)} messages shown, got {count}")

                    # Warm switch: go to another room, then click this one in recent rooms.
                    page.get_by_label("Room", exact=True).fill("elsewhere")
                    page.get_by_role("button", name="Join").click()
                    page.get_by_role("log", name="Messages in #elsewhere").wait_for()
                    page.locator("[role=log][aria-busy=false]").wait_for()
                    switches.append(
                        page.evaluate(
                            """async ([room, lastId]) => {
                              const button = [...document.querySelectorAll('nav button')]
                                .find((b) => b.textContent === '#' + room);
                              const start = performance.now();
                              const shown = window.__shown(lastId);
                              button.click();
                              return (await shown) - start;
                            }""",
                            [room, last_id],
                        )
                    )
                    context.close()
                browser.close()
        finally:
            server.stop()

    print(summary("open", opens))
    print(summary("switch", switches))
    print(summary("all", alls))
    verdict = "within" if statistics.median(opens) <= BUDGET_MS else "OVER"
    print(
        f"budget: the newest page of a {len(stored)}-message room shown "
        f"{statistics.median(opens):.0f} ms after opening ({verdict} {BUDGET_MS:.0f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
