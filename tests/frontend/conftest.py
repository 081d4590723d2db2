"""Fixtures for the browser tests: Debian's chromium driven by Playwright, and a
`chatapp serve` started for the module (the site it serves is frontend/dist)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.chromium import CHROMIUM_ARGS, executable
from tests.support.localserver import PROJECT_ROOT, server_fixture

SITE_INDEX = PROJECT_ROOT / "frontend" / "dist" / "index.html"

# Connecting, history and fan-out all go through the local stack: allow more
# than Playwright's default 5 s on a busy 2-core machine.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    chromium = executable()
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make chromium, as root, installs it)")
    if not SITE_INDEX.exists():
        pytest.fail("frontend/dist is not built: run `make site` (npm ci && npm run build)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# One server for the module; no rate limit so tests can seed rooms quickly. After
# `browser`, so that without chromium nothing is started at all.
server = server_fixture(rate_limit=0, requires=("browser",))


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Open a page in a fresh browser context (its own localStorage: its own user)."""
    contexts = []

    def open_one(width: int = 1024, height: int = 720, dark: bool = False) -> Page:
        context = browser.new_context(
            viewport={"width": width, "height": height},
            color_scheme="dark" if dark else "light",
        )
        contexts.append(context)
        return context.new_page()

    yield open_one
    for context in contexts:
        context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Callable[[Page, str], Path]:
    """Save a full-page screenshot under this test's output directory."""
    folder = tmp_path / "screenshots"
    folder.mkdir()

    def shoot(page: Page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return shoot
