"""The JWT signing keys: which key signs, which keys verify, and where they live.

Deployed, an SSM SecureString (JWT_SECRET_PARAMETER) holds a key set as JSON,
`{"signing": KID, "keys": {KID: SECRET, ...}}`; before its first rotation it
holds one bare secret, which is read as a set of one. Locally JWT_SECRET is
that bare secret. Every token names its key in the header's `kid`.

Rotation (infra/tools/rotate_secret.py) is phased so that no valid token is
ever refused: a new key is first published as accepted only; it signs only
after every warm function has re-read the set (they do so every
REFRESH_SECONDS); the old key is dropped one token lifetime after that.
"""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

from chalicelib import aws, lazy, settings
from chalicelib.settings import LIMITS

REFRESH_SECONDS: int = LIMITS.signing_keys_refresh_seconds


class KeySet(NamedTuple):
    signing: str  # the kid new tokens are signed with
    keys: dict[str, str]  # kid → secret, every key a token may be signed with

    def to_json(self) -> str:
        return json.dumps({"signing": self.signing, "keys": self.keys}, sort_keys=True)


def key_id(secret: str) -> str:
    """The kid of a bare secret: stable, and says nothing usable about the secret."""
    return "k-" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def parse(value: str) -> KeySet:
    """A stored value (a key set as JSON, or one bare secret) → KeySet; ValueError if neither."""
    text = value.strip()
    if not text:
        raise ValueError("the signing key is empty")
    if not text.startswith("{"):
        return KeySet(key_id(text), {key_id(text): text})
    document = json.loads(text)
    keys, signing = document.get("keys"), document.get("signing")
    if not isinstance(keys, dict) or signing not in keys or not all(
        isinstance(kid, str) and isinstance(secret, str) and secret for kid, secret in keys.items()
    ):
        raise ValueError("a key set needs 'keys' (kid → secret) and a 'signing' kid among them")
    return KeySet(signing, dict(keys))


@lazy.cached(ttl_seconds=REFRESH_SECONDS)
def current() -> KeySet:
    """This container's key set, read again every REFRESH_SECONDS so rotations reach it."""
    config = settings.get()
    if config.jwt_secret_parameter:
        # Only deployed stages reach SSM; the container's one session (chalicelib.aws).
        parameter = aws.session().client("ssm").get_parameter(
            Name=config.jwt_secret_parameter, WithDecryption=True
        )
        return parse(parameter["Parameter"]["Value"])
    if config.jwt_secret:
        return parse(config.jwt_secret)
    raise RuntimeError("set JWT_SECRET (local) or JWT_SECRET_PARAMETER (deployed)")
