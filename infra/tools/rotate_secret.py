"""Phased rotation of a stage's JWT signing key (`./deploy.sh --rotate-secret`).

No valid token is ever refused (chalicelib/keys.py holds the key set format).
Each run makes the next phase that is due, and says when to run again:

1. publish: a new key joins the set as accepted only; the current key signs on.
2. sign: once every warm function has re-read the set (keys.REFRESH_SECONDS,
   plus a margin), the new key signs; the old one still verifies.
3. drop: one token lifetime (plus the refresh interval, for tokens an
   unrefreshed container signed with the old key) after that, the old key goes.

The phase and when it began ride along in the parameter's JSON ("rotation"),
so the runs may be hours apart and on different machines.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib import keys
from chalicelib.settings import LIMITS

MARGIN_SECONDS = 60  # clock skew and a slow cold start
TOKEN_LIFETIME_SECONDS: int = LIMITS.token_lifetime_seconds  # a stage may set its own


def _stamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def next_phase(
    value: str,
    now: int,
    token_lifetime: int = TOKEN_LIFETIME_SECONDS,
    new_secret: Callable[[], str] = lambda: secrets.token_urlsafe(48),
) -> tuple[str | None, str]:
    """(the parameter's next value, or None when nothing is due yet; what happened)."""
    key_set = keys.parse(value)
    document = json.loads(value) if value.strip().startswith("{") else {}
    rotation: dict[str, Any] = document.get("rotation") or {}
    phase, since = rotation.get("phase"), int(rotation.get("at", 0))

    if phase is None:
        secret = new_secret()
        kid = "k-" + secrets.token_hex(6)
        ready = now + keys.REFRESH_SECONDS + MARGIN_SECONDS
        document = {
            "signing": key_set.signing,
            "keys": {**key_set.keys, kid: secret},
            "rotation": {"phase": "published", "new": kid, "at": now},
        }
        return json.dumps(document, sort_keys=True), (
            f"published key {kid} (accepted, not signing yet); run again after {_stamp(ready)}"
            " to sign with it"
        )
    if phase == "published":
        ready = since + keys.REFRESH_SECONDS + MARGIN_SECONDS
        if now < ready:
            return None, f"key {rotation['new']} is published; it can sign after {_stamp(ready)}"
        old = sorted(kid for kid in key_set.keys if kid != rotation["new"])
        document = {
            "signing": rotation["new"],
            "keys": key_set.keys,
            "rotation": {"phase": "signing", "old": old, "at": now},
        }
        drop = now + token_lifetime + keys.REFRESH_SECONDS + MARGIN_SECONDS
        return json.dumps(document, sort_keys=True), (
            f"key {rotation['new']} signs now; the old key verifies until the tokens it signed"
            f" have expired: run again after {_stamp(drop)} to drop it"
        )
    if phase == "signing":
        ready = since + token_lifetime + keys.REFRESH_SECONDS + MARGIN_SECONDS
        if now < ready:
            return None, f"key {key_set.signing} signs; the old key can go after {_stamp(ready)}"
        document = {
            "signing": key_set.signing,
            "keys": {key_set.signing: key_set.keys[key_set.signing]},
        }
        return json.dumps(document, sort_keys=True), (
            f"dropped {', '.join(rotation.get('old', []))}: rotation complete"
        )
    raise ValueError(f"unknown rotation phase in the key set: {phase!r}")


def rotate(ssm: Any, parameter: str, token_lifetime: int, now: int | None = None) -> str:
    """Make the next due phase in the SSM SecureString `parameter`; returns what happened."""
    current = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    value, report = next_phase(current, int(time.time()) if now is None else now, token_lifetime)
    if value is not None:
        ssm.put_parameter(Name=parameter, Value=value, Type="SecureString", Overwrite=True)
    return report
