"""Accounts: password hashing, signup, login with throttling, and tokens.

Passwords: bcrypt alone reads only the first 72 bytes, so every password is
first reduced to base64(SHA-256(password)), 44 bytes that depend on every
character. Tokens: JWT HS256 with sub/iat/exp, signed with a secret that comes
from the environment (local) or an SSM SecureString (deployed), never code.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import NamedTuple

from chalicelib import aws, errors, ids, lazy, settings, store
from chalicelib.protocol import Credentials

_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class Session(NamedTuple):
    username: str
    token: str
    expires_at: str

    def to_wire(self) -> dict[str, str]:
        return {"username": self.username, "token": self.token, "expiresAt": self.expires_at}


def _prehash(password: str) -> bytes:
    digest = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
    return base64.b64encode(digest)


# bcrypt and PyJWT are imported where they are used: most Lambdas of the app
# (message, disconnect, the stream handler) never hash and PyJWT's import alone
# is ~40 ms of a cold start (bench/coldstart.py).


def hash_password(password: str) -> str:
    """A bcrypt hash (cost from settings) over the whole password."""
    import bcrypt

    salt = bcrypt.gensalt(rounds=settings.get().bcrypt_rounds)
    return bcrypt.hashpw(_prehash(password), salt).decode("ascii")


def check_password(password: str, password_hash: str) -> bool:
    import bcrypt

    return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))


@lazy.cached()
def _decoy_hash() -> str:
    """A well-formed hash that matches nothing, at the configured cost.

    Checking a password against it costs what a real check costs, so a login
    for an unknown name takes as long as one with a wrong password.
    """
    import bcrypt

    salt = bcrypt.gensalt(rounds=settings.get().bcrypt_rounds).decode("ascii")
    return salt + "".join(secrets.choice(_BCRYPT_ALPHABET) for _ in range(31))


def signup(credentials: Credentials) -> Session:
    """Create the account (one conditional put) and return a session for it."""
    password_hash = hash_password(credentials.password)
    now_ms = ids.now_ms()
    store.create_user(credentials.username, password_hash, ids.iso_utc(now_ms))
    return issue_token(credentials.username, now_ms // 1000)


def login(credentials: Credentials) -> Session:
    """Check the password; Unauthorized or, after too many failures, TooManyRequests."""
    config = settings.get()
    now_s = int(time.time())
    window = config.login_window_seconds
    failures = store.recent_login_failures(credentials.username, now_s, window)
    if failures >= config.login_max_failures:
        raise errors.TooManyRequests("too many failed logins; try again later")
    user = store.get_user(credentials.username)
    # Exactly one bcrypt check on every path, so timing does not reveal names.
    stored_hash = user.password_hash if user else _decoy_hash()
    if not check_password(credentials.password, stored_hash) or user is None:
        store.record_login_failure(credentials.username, now_s, window)
        raise errors.Unauthorized("wrong username or password")
    if failures:
        store.clear_login_failures(credentials.username)
    return issue_token(user.username, now_s)


# --------------------------------------------------------------------- tokens


@lazy.cached(ttl_seconds=300)
def signing_secret() -> str:
    """The JWT secret, fetched again every 5 minutes so a rotation reaches warm containers."""
    config = settings.get()
    if config.jwt_secret_parameter:
        # Only deployed stages reach SSM; the container's one session (chalicelib.aws).
        parameter = aws.session().client("ssm").get_parameter(
            Name=config.jwt_secret_parameter, WithDecryption=True
        )
        return parameter["Parameter"]["Value"]
    if config.jwt_secret:
        return config.jwt_secret
    raise RuntimeError("set JWT_SECRET (local) or JWT_SECRET_PARAMETER (deployed)")


def issue_token(username: str, now_s: int) -> Session:
    import jwt

    expires = now_s + settings.get().token_lifetime_seconds
    token = jwt.encode(
        {"sub": username, "iat": now_s, "exp": expires}, signing_secret(), algorithm="HS256"
    )
    return Session(username, token, ids.iso_utc(expires * 1000))


def verify_token(token: str | None) -> str:
    """The username a token was issued to, or Unauthorized."""
    if not token:
        raise errors.Unauthorized("token is required")
    import jwt

    try:
        claims = jwt.decode(
            token,
            signing_secret(),
            algorithms=["HS256"],
            options={"require": ["sub", "iat", "exp"]},
        )
    except jwt.PyJWTError:
        raise errors.Unauthorized("token is invalid or expired") from None
    subject = claims["sub"]
    if not isinstance(subject, str):
        raise errors.Unauthorized("token is invalid or expired")
    return subject
