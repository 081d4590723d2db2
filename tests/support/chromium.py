"""How the browser tests and benchmarks start Debian's chromium through Playwright
(never a browser downloaded by `playwright install`: none can be fetched here)."""

from __future__ import annotations

import shutil

# Without the background-networking flags chromium keeps dialling out, and this
# machine's closed network refuses it, many times a second.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def executable() -> str | None:
    """Debian's chromium binary, or None when it is not installed."""
    return shutil.which("chromium")
