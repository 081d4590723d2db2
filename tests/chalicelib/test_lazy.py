"""lazy.lasting: no collections while a container's lasting objects are made, frozen once."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib import lazy


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_off_inside_and_on_again_after(collector_on: None) -> None:
    with lazy.lasting():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_block_inside_another_leaves_the_collector_off(collector_on: None) -> None:
    with lazy.lasting():
        with lazy.lasting():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_comes_back_when_the_block_raises(collector_on: None) -> None:
    with pytest.raises(RuntimeError), lazy.lasting():
        raise RuntimeError("the client could not be made")
    assert gc.isenabled()


def test_the_first_block_of_a_process_freezes_what_it_made_and_later_ones_do_not() -> None:
    script = """
import gc, json
from chalicelib import lazy
before = gc.get_freeze_count()
with lazy.lasting():
    made = [[n] for n in range(10000)]
first = gc.get_freeze_count()
with lazy.lasting():
    more = [[n] for n in range(10000)]
print(json.dumps([before, first, gc.get_freeze_count(), gc.isenabled()]))
"""
    finished = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    before, first, second, enabled = json.loads(finished.stdout)
    assert first >= before + 10000
    assert second == first
    assert enabled
