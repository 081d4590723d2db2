"""What a client does with each WebSocket message: a `batch` frame is its frames, in order."""

from __future__ import annotations

import json
from typing import Any


def unwrap(raw: str | bytes) -> list[dict[str, Any]]:
    """The frames in one WebSocket message (PROTOCOL.md: a batch is never nested)."""
    frame = json.loads(raw)
    if isinstance(frame, dict) and frame.get("type") == "batch":
        return list(frame["frames"])
    return [frame]
