"""How the suite is spread over test processes (pytest-xdist; the Makefile's PYTEST_PARALLEL).

With `--dist loadgroup` a worker runs a group whole: each module is one group,
so its module- and session-scoped servers start once, not once per worker
that got some of its tests. The browser modules (tests/frontend/test_browser_*)
share one group: chromium is the heaviest thing the suite runs, and two of them
at once on a 2-core machine only slow each other down.

The groups are computed here from the test ids (`ModuleGroups`), not with
xdist's own `xdist_group` marks: xdist 3.8 tells a worker's group by a suffix it
writes into `item._nodeid`, which pytest 9 no longer reads (an item's id is its
`_id`), so every mark was ignored and each test was handed out on its own -- a
module's tests ran on both workers, and both deployed its stage.

The slowest work is handed out first, so none of it is left to run alone at
the end: the three deploy modules (mostly Terraform, three to four minutes
each, tests/README.md) are handed out first, then the slowest directories.
`--no-loadscope-reorder` keeps this order; a worker is given its next group
when it has two tests or fewer of its own left.
"""

from __future__ import annotations

from typing import Any

import pytest

# Paths under tests/: a module or a whole directory.
SLOWEST_FIRST = (
    "infra/test_deploy_cleanup.py",
    "infra/test_deploy_terraform.py",
    "infra/test_deploy_scripts.py",
    "infra",
    "frontend",
    "reliability",
    "chatapp",
)
BROWSER_MODULES = "tests/frontend/test_browser_"


def group_of(nodeid: str) -> str:
    """The xdist group of a test: its module, or "browser" for every browser module."""
    module = nodeid.split("::")[0]
    return "browser" if module.startswith(BROWSER_MODULES) else module


def _rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::")[0].removeprefix("tests/")
    for rank, slow in enumerate(SLOWEST_FIRST):
        if path == slow or path.startswith(slow + "/"):
            return rank
    return len(SLOWEST_FIRST)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: modules stay whole and in their order


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` with the groups of `group_of` (xdist's scheduler otherwise)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return ModuleGroups(config, log)
