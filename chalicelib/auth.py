"""Accounts: password hashing, signup, login with throttling, sessions and tokens.

Passwords: bcrypt alone reads only the first 72 bytes, so every password is
first reduced to base64(SHA-256(password)), 44 bytes that depend on every
character.

Sessions (PROTOCOL.md v3): every signup or login starts a session (a family
of tokens) that lasts at most SESSION_LIFETIME_SECONDS (30 days) however often
it is refreshed. It hands out an access token, a JWT HS256 with sub/iat/exp and
`sid` (its session) that lives TOKEN_LIFETIME_SECONDS (15 minutes), signed with
the key named in the header's `kid` (chalicelib.keys: never a constant in
code); and an opaque one-time refresh token, stored only as its SHA-256.
Refreshing spends the refresh token and hands out a new pair; presenting a
spent one ends the whole session (a stolen token that got used is detected).
An access token is good only while its session is: REST and $connect read the
session (strongly consistent), frames within SESSION_CHECK_SECONDS.

Device tokens: `d1.<kid>.<nonce>.<mac>`, an HMAC of the username and a nonce
under the signing key. A login that carries one for its username skips the
per-name-across-addresses window, so guessing a name from many addresses does
not lock its owner out of a device used before (OWASP device cookies).

Abuse limits (PROTOCOL.md): every login and signup first reserves its attempt
in the guards table with one conditional update, before bcrypt runs, so
parallel attempts cannot all pass a read-then-write check. A login that
succeeds hands its reservations back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from typing import NamedTuple

from chalicelib import clock, errors, ids, keys, lazy, observability, settings, store
from chalicelib.protocol import Credentials
from chalicelib.settings import LIMITS
from chalicelib.store.sessions import SessionRecord, Spent

_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


SESSION_CHECK_SECONDS: int = LIMITS.session_check_cache_seconds


class Session(NamedTuple):
    """What signup, login and refresh answer (PROTOCOL.md v3, Sessions)."""

    username: str
    token: str
    expires_at: str
    refresh_token: str = ""
    refresh_expires_at: str = ""
    device_token: str = ""

    def to_wire(self) -> dict[str, str]:
        return {
            "username": self.username, "token": self.token, "expiresAt": self.expires_at,
            "refreshToken": self.refresh_token, "refreshExpiresAt": self.refresh_expires_at,
            "deviceToken": self.device_token,
        }


class SessionReused(errors.Unauthorized):
    """A spent refresh token came back: its session was ended (401; its sockets get closed)."""

    def __init__(self, ended: SessionRecord | None) -> None:
        super().__init__("this refresh token was used before; the session is ended: log in again")
        self.ended = ended


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
    """Create the account (one conditional put) and start a session for it.

    Every attempt that reaches bcrypt counts against its IP's signup window
    (a taken name too: the hash was paid for).
    """
    config = settings.get()
    now_s = clock.now_s()
    if not is_loopback(source_ip):
        wait = store.guards().take_from_window(
            f"signup#ip#{source_ip}", config.signups_per_ip, config.signup_window_seconds, now_s,
        )
        if wait:
            raise errors.TooManyRequests("too many signups from your address; try later", wait)
    password_hash = hash_password(credentials.password)
    store.users().create(credentials.username, password_hash, ids.iso_utc(now_s * 1000))
    return start_session(credentials.username, now_s)


def _login_windows(username: str, source_ip: str, known_device: bool) -> list[tuple[str, int]]:
    """(guard key, limit) of each failed-login window this attempt counts in.

    A login from a device the user logged in from before skips the name's
    window across all addresses (the one a guesser can fill from anywhere).
    """
    config, name = settings.get(), username.lower()
    windows = [(f"login#user#{name}#ip#{source_ip}", config.login_failures_per_user_ip)]
    if not known_device:
        windows.append((f"login#user#{name}", config.login_failures_per_user))
    if not is_loopback(source_ip):
        windows.append((f"login#ip#{source_ip}", config.login_failures_per_ip))
    return windows


def login(credentials: Credentials, source_ip: str, device_token: str | None = None) -> Session:
    """Check the password; Unauthorized, or TooManyRequests once failures reach a limit."""
    config = settings.get()
    now_s = clock.now_s()
    device_nonce = device_nonce_of(device_token, credentials.username)
    reserved: list[str] = []
    windows = _login_windows(credentials.username, source_ip, device_nonce is not None)
    for key, limit in windows:
        wait = store.guards().take_from_window(key, limit, config.login_window_seconds, now_s)
        if wait:
            for taken in reserved:
                store.guards().give_back_to_window(taken)
            observability.count("Logins", outcome="throttled")
            raise errors.TooManyRequests("too many failed logins; try again later", wait)
        reserved.append(key)
    user = store.users().get(credentials.username)
    # Exactly one bcrypt check on every path, so timing does not reveal names.
    stored_hash = user.password_hash if user else _decoy_hash()
    if not check_password(credentials.password, stored_hash) or user is None:
        observability.count("Logins", outcome="refused")
        raise errors.Unauthorized("wrong username or password")  # the reservations stay
    # The right password from this address: its own failures are forgiven;
    # the name's and the address's windows only get this attempt back.
    store.guards().forget_window(reserved[0])
    for key in reserved[1:]:
        store.guards().give_back_to_window(key)
    observability.count("Logins", outcome="ok")
    return start_session(user.username, now_s, device_nonce)


def refresh(refresh_token: str | None) -> Session:
    """Spend a refresh token for a new pair; a spent one ends its whole session (401 both ways)."""
    if not refresh_token:
        raise errors.Unauthorized("a refreshToken is required")
    now_s = clock.now_s()
    new_refresh = secrets.token_urlsafe(32)
    try:
        session = store.sessions().rotate(_hash(refresh_token), _hash(new_refresh), now_s)
    except Spent as reuse:
        ended = store.sessions().end(reuse.session_id, now_s)
        _forget_checked(reuse.session_id)
        raise SessionReused(ended) from None
    if session is None:
        raise errors.Unauthorized("the refresh token is unknown, expired or ended; log in again")
    return _pair(session.username, session.session_id, session.expires_at, new_refresh,
                 session.device_nonce, now_s)


def logout(token: str | None, everywhere: bool = False) -> list[SessionRecord]:
    """End the token's session (or every session of its user); the sessions as ended."""
    now_s = clock.now_s()
    claims = authenticate(token, now_s)
    ids_to_end = store.sessions().of_user(claims.username) if everywhere else [claims.session_id]
    if claims.session_id not in ids_to_end:
        ids_to_end.append(claims.session_id)
    ended = []
    for session_id in ids_to_end:
        record = store.sessions().end(session_id, now_s)
        _forget_checked(session_id)
        if record is not None:
            ended.append(record)
    store.sessions().forget_user_sessions(claims.username, ids_to_end)
    return ended


def start_session(username: str, now_s: int, device_nonce: str | None = None) -> Session:
    """A new session (a new token family) for a user who just proved who they are."""
    session_id = secrets.token_urlsafe(16)
    refresh_token = secrets.token_urlsafe(32)
    nonce = device_nonce or secrets.token_urlsafe(16)
    expires_at = now_s + settings.get().session_lifetime_seconds
    store.sessions().start(session_id, username, _hash(refresh_token), nonce, expires_at)
    return _pair(username, session_id, expires_at, refresh_token, nonce, now_s)


def _pair(
    username: str, session_id: str, session_expires: int, refresh_token: str, nonce: str,
    now_s: int,
) -> Session:
    access = issue_token(username, now_s, session_id, session_expires)
    return access._replace(
        refresh_token=refresh_token,
        refresh_expires_at=ids.iso_utc(session_expires * 1000),
        device_token=device_token(username, nonce),
    )


def _hash(refresh_token: str) -> str:
    """What is stored of a refresh token: its SHA-256 (it is 256 random bits, no salt needed)."""
    return hashlib.sha256(refresh_token.encode("utf-8", "surrogatepass")).hexdigest()


# ---------------------------------------------------------------- device tokens


def _device_mac(secret: str, username: str, nonce: str) -> str:
    message = f"device|{username.lower()}|{nonce}".encode("utf-8", "surrogatepass")
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def device_token(username: str, nonce: str) -> str:
    """The device token of this user and device (nonce), under the current signing key."""
    key_set = keys.current()
    mac = _device_mac(key_set.keys[key_set.signing], username, nonce)
    return f"d1.{key_set.signing}.{nonce}.{mac}"


def device_nonce_of(token: str | None, username: str) -> str | None:
    """The device nonce of a genuine device token of this username, else None."""
    if not isinstance(token, str) or len(token) > 256:
        return None
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != "d1" or not parts[2]:
        return None
    secret = keys.current().keys.get(parts[1])
    if secret is None:
        return None
    # As bytes: compare_digest refuses str that is not ASCII (a client chooses this one).
    presented = parts[3].encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(_device_mac(secret, username, parts[2]).encode(), presented):
        return None
    return parts[2]


# --------------------------------------------------------------------- tokens


class Claims(NamedTuple):
    username: str
    session_id: str
    expires: int  # epoch seconds
    session_expires: int | None = None  # the session's absolute end, once authenticated


def issue_token(
    username: str, now_s: int, session_id: str, session_expires: int | None = None
) -> Session:
    """An access token of `session_id`, signed with the signing key; never past its session."""
    import jwt

    key_set = keys.current()
    expires = now_s + settings.get().token_lifetime_seconds
    if session_expires is not None:
        expires = min(expires, session_expires)
    token = jwt.encode(
        {"sub": username, "iat": now_s, "exp": expires, "sid": session_id},
        key_set.keys[key_set.signing],
        algorithm="HS256",
        headers={"kid": key_set.signing},
    )
    return Session(username, token, ids.iso_utc(expires * 1000))


def verify_token(token: str | None, now_s: int | None = None) -> Claims:
    """The claims of a well-signed token unexpired at now_s (default: the clock's now), or
    Unauthorized (its session unread)."""
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
                token, secret, algorithms=["HS256"],
                # Times are judged by chalicelib.clock below, not by PyJWT.
                options={"require": ["sub", "iat", "exp"], "verify_exp": False,
                         "verify_iat": False, "verify_nbf": False},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            raise invalid from None
        subject, session_id, expires = claims["sub"], claims.get("sid"), claims["exp"]
        # Tokens from before sessions (no `sid`) lived 12 hours: they are refused.
        if not isinstance(subject, str) or not isinstance(session_id, str):
            raise invalid
        if type(expires) is not int or expires <= (clock.now_s() if now_s is None else now_s):
            raise invalid
        return Claims(subject, session_id, expires)
    raise invalid


def authenticate(token: str | None, now_s: int | None = None) -> Claims:
    """The claims of a token valid at now_s (default: the clock's now) whose session is live
    then (a consistent read), or Unauthorized."""
    now_s = clock.now_s() if now_s is None else now_s
    claims = verify_token(token, now_s)
    session = store.sessions().get(claims.session_id)
    if session is None or not session.active(now_s):
        _forget_checked(claims.session_id)
        raise errors.Unauthorized("this session has ended; log in again")
    return claims._replace(session_expires=session.expires_at)


# ------------------------------------------- per-frame checks, cached a moment


class _Checked:
    """Session id → (monotonic time checked, live?), at most SESSION_CHECK_SECONDS old."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, tuple[float, bool]] = {}


@lazy.cached()
def _checked() -> _Checked:
    return _Checked()


def _forget_checked(session_id: str) -> None:
    checked = _checked()
    with checked.lock:
        checked.seen[session_id] = (time.monotonic(), False)  # an ended session stays ended


def check_not_expired(expires_at: int | None, now_s: int) -> None:
    """Unauthorized once a connection's token has expired (None: a record that carries none)."""
    if expires_at is not None and expires_at <= now_s:
        raise errors.Unauthorized("your token has expired; log in again")


def session_is_live(session_id: str, now_s: int) -> bool:
    """Whether a connection's session is live: read at most every SESSION_CHECK_SECONDS here."""
    checked, now = _checked(), time.monotonic()
    with checked.lock:
        seen = checked.seen.get(session_id)
    if seen is not None and (not seen[1] or now - seen[0] < SESSION_CHECK_SECONDS):
        return seen[1]
    session = store.sessions().get(session_id)
    live = session is not None and session.active(now_s)
    with checked.lock:
        if len(checked.seen) > 10_000:  # bounded: a warm container meets many sessions
            checked.seen.clear()
        checked.seen[session_id] = (now, live)
    return live
