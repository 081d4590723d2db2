"""Read what `chalice deploy` recorded in .chalice/deployed/<stage>.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .stage_config import CHALICE_DIR


@dataclass(frozen=True)
class Deployed:
    rest_api_url: str
    websocket_api_url: str
    websocket_api_id: str
    rest_api_id: str = ""
    functions: tuple[str, ...] = ()  # the Lambdas it made, by Chalice's name (api_handler, ...)

    def api_origins(self) -> list[str]:
        """The two APIs' origins, for the site's connect-src."""
        return api_origins(self.rest_api_url, self.websocket_api_url)


def api_origins(*urls: str) -> list[str]:
    """scheme://host of each URL (empty ones skipped)."""
    return [f"{url.scheme}://{url.netloc}" for url in map(urlsplit, urls) if url.netloc]


def deployed_file(stage: str, chalice_dir: Path = CHALICE_DIR) -> Path:
    return chalice_dir / "deployed" / f"{stage}.json"


def read(stage: str, chalice_dir: Path = CHALICE_DIR) -> Deployed | None:
    """The stage's API URLs and WebSocket API id, or None when nothing is deployed."""
    path = deployed_file(stage, chalice_dir)
    if not path.exists():
        return None
    recorded = json.loads(path.read_text())["resources"]
    resources = {r["resource_type"]: r for r in recorded}
    if not resources:
        return None  # `chalice delete` leaves {"resources": []} behind
    try:
        rest, websocket = resources["rest_api"], resources["websocket_api"]
        return Deployed(
            rest_api_url=rest["rest_api_url"].rstrip("/"),
            websocket_api_url=websocket["websocket_api_url"].rstrip("/"),
            websocket_api_id=websocket["websocket_api_id"],
            rest_api_id=rest["rest_api_id"],
            functions=tuple(r["name"] for r in recorded if r["resource_type"] == "lambda_function"),
        )
    except KeyError as missing:
        raise ValueError(f"{path} has no {missing}: is app.py missing its routes?") from missing
