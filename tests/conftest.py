"""How the suite is spread over test processes (pytest-xdist; the Makefile's PYTEST_PARALLEL).

Each module is one xdist group, so a worker runs a module whole and its
module- and session-scoped servers start once per worker, not once per test.
Browser modules share one group: chromium is the heaviest thing the suite
runs, and two of them at once on a 2-core machine only slow each other down.
The slowest directories are handed out first, so none of them is left to run
alone at the end.
"""

from __future__ import annotations

import pytest

SLOWEST_FIRST = ("infra", "frontend", "reliability", "chatapp")


def _rank(item: pytest.Item) -> int:
    parts = item.nodeid.split("/")
    folder = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
    return SLOWEST_FIRST.index(folder) if folder in SLOWEST_FIRST else len(SLOWEST_FIRST)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: modules stay whole and in their order
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        group = "browser" if item.get_closest_marker("browser") else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
