"""Read what `chalice deploy` recorded in .chalice/deployed/<stage>.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .stage_config import CHALICE_DIR


@dataclass(frozen=True)
class Deployed:
    rest_api_url: str
    websocket_api_url: str
    websocket_api_id: str


def deployed_file(stage: str, chalice_dir: Path = CHALICE_DIR) -> Path:
    return chalice_dir / "deployed" / f"{stage}.json"


def read(stage: str, chalice_dir: Path = CHALICE_DIR) -> Deployed | None:
    """The stage's API URLs and WebSocket API id, or None before the first deploy."""
    path = deployed_file(stage, chalice_dir)
    if not path.exists():
        return None
    resources = {r["resource_type"]: r for r in json.loads(path.read_text())["resources"]}
    try:
        rest, websocket = resources["rest_api"], resources["websocket_api"]
        return Deployed(
            rest_api_url=rest["rest_api_url"].rstrip("/"),
            websocket_api_url=websocket["websocket_api_url"].rstrip("/"),
            websocket_api_id=websocket["websocket_api_id"],
        )
    except KeyError as missing:
        raise ValueError(f"{path} has no {missing}: is app.py missing its routes?") from missing
