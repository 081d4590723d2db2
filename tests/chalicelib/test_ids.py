"""Message ids sort as strings in the order they were made."""

from __future__ import annotations

import re

import pytest

from chalicelib import ids, lazy


@pytest.fixture(autouse=True)
def fresh_sequence():
    """Ids made here at far-off times must not move later tests' ids there."""
    lazy.reset()
    yield
    lazy.reset()


def test_ids_made_in_one_millisecond_still_sort_in_order():
    made = [ids.message_id(1_764_079_387_123) for _ in range(1000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_follow_time_and_never_go_back_when_the_clock_does():
    first = ids.message_id(2_000_000_000_000)
    earlier_clock = ids.message_id(1_000_000_000_000)
    assert earlier_clock > first


def test_id_shape_is_13_digits_dash_10_hex():
    assert re.fullmatch(r"[0-9]{13}-[0-9a-f]{10}", ids.message_id())


def test_iso_utc_has_milliseconds_and_z():
    assert ids.iso_utc(1_764_079_387_123) == "2025-11-25T14:03:07.123Z"
