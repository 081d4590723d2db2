"""Accounts: password hashing, signup, login with throttling, and tokens.

Passwords: bcrypt alone reads only the first 72 bytes, so every password is
first reduced to base64(SHA-256(password)), 44 bytes that depend on every
character. Tokens: JWT HS256 with sub/iat/exp and `ver` (the user's token
version: logout moves it on, so every earlier token is refused while a login
in the same second works), signed with the key named in the header's `kid`
(chalicelib.keys: never a constant in code).

Abuse limits (PROTOCOL.md): every login and signup first reserves its attempt
in the guards table with one conditional update, before bcrypt runs, so
parallel attempts cannot all pass a read-then-write check. A login that
succeeds hands its reservations back.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
import time
from typing import NamedTuple

from chalicelib import errors, ids, keys, lazy, settings, store
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


def is_loopback(source_ip: str) -> bool:
    """Whether the client is this machine (exempt from the limits keyed by IP alone)."""
    try:
        return ipaddress.ip_address(source_ip).is_loopback
    except ValueError:
        return False


def signup(credentials: Credentials, source_ip: str) -> Session:
    """Create the account (one conditional put) and return a session for it.

    Every attempt that reaches bcrypt counts against its IP's signup window
    (a taken name too: the hash was paid for).
    """
    config = settings.get()
    now_ms = ids.now_ms()
    if not is_loopback(source_ip):
        wait = store.take_from_window(
            f"signup#ip#{source_ip}", config.signups_per_ip, config.signup_window_seconds,
            now_ms // 1000,
        )
        if wait:
            raise errors.TooManyRequests("too many signups from your address; try later", wait)
    password_hash = hash_password(credentials.password)
    store.create_user(credentials.username, password_hash, ids.iso_utc(now_ms))
    return issue_token(credentials.username, now_ms // 1000, version=0)  # a new name: no logout yet


def _login_windows(username: str, source_ip: str) -> list[tuple[str, int]]:
    """(guard key, limit) of each failed-login window this attempt counts in."""
    config, name = settings.get(), username.lower()
    windows = [
        (f"login#user#{name}#ip#{source_ip}", config.login_failures_per_user_ip),
        (f"login#user#{name}", config.login_failures_per_user),
    ]
    if not is_loopback(source_ip):
        windows.append((f"login#ip#{source_ip}", config.login_failures_per_ip))
    return windows


def login(credentials: Credentials, source_ip: str) -> Session:
    """Check the password; Unauthorized, or TooManyRequests once failures reach a limit."""
    config = settings.get()
    now_s = int(time.time())
    reserved: list[str] = []
    for key, limit in _login_windows(credentials.username, source_ip):
        wait = store.take_from_window(key, limit, config.login_window_seconds, now_s)
        if wait:
            for taken in reserved:
                store.give_back_to_window(taken)
            raise errors.TooManyRequests("too many failed logins; try again later", wait)
        reserved.append(key)
    user = store.get_user(credentials.username)
    # Exactly one bcrypt check on every path, so timing does not reveal names.
    stored_hash = user.password_hash if user else _decoy_hash()
    if not check_password(credentials.password, stored_hash) or user is None:
        raise errors.Unauthorized("wrong username or password")  # the reservations stay
    # The right password from this address: its own failures are forgiven;
    # the name's and the address's windows only get this attempt back.
    store.forget_window(reserved[0])
    for key in reserved[1:]:
        store.give_back_to_window(key)
    return issue_token(user.username, now_s, store.token_version(user.username))


def refresh(token: str | None) -> Session:
    """A fresh token for the holder of a valid, unrevoked one."""
    claims = authenticate(token)
    return issue_token(claims.username, int(time.time()), claims.version)


def logout(token: str | None) -> str:
    """Refuse every token issued to the token's user so far; returns the username."""
    claims = authenticate(token)
    store.revoke_tokens(claims.username)
    return claims.username


# --------------------------------------------------------------------- tokens


class Claims(NamedTuple):
    username: str
    version: int
    expires: int  # epoch seconds


def issue_token(username: str, now_s: int, version: int) -> Session:
    """A token for `username` at token version `version`, signed with the signing key."""
    import jwt

    key_set = keys.current()
    expires = now_s + settings.get().token_lifetime_seconds
    token = jwt.encode(
        {"sub": username, "iat": now_s, "exp": expires, "ver": version},
        key_set.keys[key_set.signing],
        algorithm="HS256",
        headers={"kid": key_set.signing},
    )
    return Session(username, token, ids.iso_utc(expires * 1000))


def verify_token(token: str | None) -> Claims:
    """The claims of a well-signed, unexpired token, or Unauthorized (revocation unchecked)."""
    if not token:
        raise errors.Unauthorized("token is required")
    import jwt

    invalid = errors.Unauthorized("token is invalid or expired")
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise invalid from None
    key_set = keys.current()
    if kid is None:  # issued before tokens named their key: any accepted key may verify it
        candidates = list(key_set.keys.values())
    elif isinstance(kid, str) and kid in key_set.keys:
        candidates = [key_set.keys[kid]]
    else:
        raise invalid
    for secret in candidates:
        try:
            claims = jwt.decode(
                token, secret, algorithms=["HS256"], options={"require": ["sub", "iat", "exp"]}
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            raise invalid from None
        subject, version = claims["sub"], claims.get("ver", 0)
        if not isinstance(subject, str) or type(version) is not int:
            raise invalid
        return Claims(subject, version, claims["exp"])
    raise invalid


def authenticate(token: str | None) -> Claims:
    """The claims of a valid token that its user has not revoked by logging out, or Unauthorized."""
    claims = verify_token(token)
    if claims.version != store.token_version(claims.username):
        raise errors.Unauthorized("token was revoked by a logout; log in again")
    return claims
