"""Times as the wire writes them."""

from __future__ import annotations

from chalicelib import ids


def test_iso_utc_has_milliseconds_and_z():
    assert ids.iso_utc(1_764_079_387_123) == "2025-11-25T14:03:07.123Z"
