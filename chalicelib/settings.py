"""Every setting of the backend, read once from the environment, and the protocol limits.

Table definitions come from tables.json and protocol limits from limits.json
(both beside this file, the one copy everything else reads too: the local
runtime, the tests and the site, which imports limits.json at build time).
`LIMITS` is limits.json as a typed, frozen object (`LIMITS.text_max`).

Environment variables, set per stage in .chalice/config.json, choose names,
secrets and the tunable limits. Each setting is one field of `Settings`, which
names its environment variable, its default and its lower bound; `load()`
reads every field the same way and builds a frozen `Settings`; `get()` keeps it
per container (chalicelib.lazy).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_type_hints

from chalicelib import lazy

HERE = Path(__file__).resolve().parent
TABLES: dict[str, dict[str, Any]] = {
    name: spec
    for name, spec in json.loads((HERE / "tables.json").read_text()).items()
    if not name.startswith("_")
}


@dataclasses.dataclass(frozen=True)
class Limits:
    """limits.json (docs/PROTOCOL.md's limits): one attribute per key, every key required."""

    username_min: int
    username_max: int
    username_pattern: str
    password_min: int
    password_max: int
    room_min: int
    room_max: int
    room_pattern: str
    default_room: str
    text_max: int
    client_id_max: int
    frame_max_bytes: int
    history_default: int
    history_max: int
    changes_max: int
    rate_limit_window_seconds: int
    login_window_seconds: int
    token_lifetime_seconds: int
    session_lifetime_seconds: int
    session_check_cache_seconds: int
    connection_ttl_seconds: int
    client_id_ttl_seconds: int
    idle_timeout_seconds: int
    rate_limit_writes: int
    rate_limit_reads: int
    rate_limit_invalid: int
    connections_per_user: int
    typing_interval_seconds: int
    typing_display_seconds: int
    occupancy_users: int
    occupancy_interval_seconds: int
    members_max: int
    rooms_max: int
    unread_max: int
    directory_max: int
    reports_max: int
    report_reason_max: int
    rooms_refresh_seconds: int
    json_max_depth: int
    login_failures_per_user_ip: int
    login_failures_per_ip: int
    login_failures_per_user: int
    signups_per_ip: int
    signup_window_seconds: int
    signing_keys_refresh_seconds: int
    big_room_connections: int
    client_buffer_max_bytes: int
    logout_close_seconds: int

    @classmethod
    def read(cls, path: Path) -> Limits:
        """The limits in a JSON file; ValueError for a missing, unknown or mistyped key."""
        raw = {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}
        names = {f.name for f in dataclasses.fields(cls)}
        if raw.keys() != names:
            raise ValueError(f"{path.name}: keys differ from Limits: {sorted(raw.keys() ^ names)}")
        for name, kind in get_type_hints(cls).items():
            if type(raw[name]) is not kind:
                raise ValueError(f"{path.name}: {name} must be {kind.__name__}, got {raw[name]!r}")
        return cls(**raw)


LIMITS = Limits.read(HERE / "limits.json")


def placeholder_stream_arn(logical: str) -> str:
    """A stream ARN for a table that may not exist yet.

    The Chalice CLI imports app.py to build the deployment, so stream ARNs must
    be concrete strings even where no table exists (local runs, unit tests).
    """
    return (
        f"arn:aws:dynamodb:us-east-1:000000000000:table/{TABLES[logical]['default_name']}"
        "/stream/1970-01-01T00:00:00.000"
    )


def index_name(logical: str, hash_key: str) -> str:
    """The name of a table's global secondary index keyed by `hash_key` (tables.json)."""
    for index in TABLES[logical].get("global_secondary_indexes", []):
        if index["hash_key"] == hash_key:
            return str(index["name"])
    raise KeyError(f"tables.json: {logical} has no index on {hash_key}")


PLACEHOLDER_STREAM_ARN = placeholder_stream_arn("messages")


def _env(name: str, default: object, minimum: int = 0) -> Any:
    """A field read from environment variable `name` (else `default`); an int is >= minimum."""
    return dataclasses.field(metadata={"env": name, "default": str(default), "minimum": minimum})


def _table(logical: str) -> Any:
    """A table's physical name: its variable and default name are in tables.json."""
    return _env(TABLES[logical]["name_env"], TABLES[logical]["default_name"])


def _stream(logical: str) -> Any:
    return _env(TABLES[logical]["stream_arn_env"], placeholder_stream_arn(logical))


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting: each field's environment variable, default and lower bound beside it."""

    users_table: str = _table("users")
    connections_table: str = _table("connections")
    messages_table: str = _table("messages")
    rooms_table: str = _table("rooms")
    guards_table: str = _table("guards")
    memberships_table: str = _table("memberships")
    sessions_table: str = _table("sessions")
    blocks_table: str = _table("blocks")
    reports_table: str = _table("reports")
    messages_stream_arn: str = _stream("messages")
    connections_stream_arn: str = _stream("connections")
    jwt_secret: str = _env("JWT_SECRET", "")  # local runs: the secret itself
    # Deployed: an SSM SecureString with the key set (keys.py).
    jwt_secret_parameter: str = _env("JWT_SECRET_PARAMETER", "")
    token_lifetime_seconds: int = _env("TOKEN_LIFETIME_SECONDS", LIMITS.token_lifetime_seconds, 1)
    session_lifetime_seconds: int = _env(
        "SESSION_LIFETIME_SECONDS", LIMITS.session_lifetime_seconds, 1)
    bcrypt_rounds: int = _env("BCRYPT_ROUNDS", 12, 4)
    login_failures_per_user_ip: int = _env(
        "LOGIN_FAILURES_PER_USER_IP", LIMITS.login_failures_per_user_ip, 1)
    login_failures_per_ip: int = _env("LOGIN_FAILURES_PER_IP", LIMITS.login_failures_per_ip, 1)
    login_failures_per_user: int = _env(
        "LOGIN_FAILURES_PER_USER", LIMITS.login_failures_per_user, 1)
    login_window_seconds: int = _env("LOGIN_WINDOW_SECONDS", LIMITS.login_window_seconds, 1)
    signups_per_ip: int = _env("SIGNUPS_PER_IP", LIMITS.signups_per_ip, 1)
    signup_window_seconds: int = _env("SIGNUP_WINDOW_SECONDS", LIMITS.signup_window_seconds, 1)
    # The per-user allowances (chalicelib/allowances.py); 0 turns one off.
    rate_limit_writes: int = _env("RATE_LIMIT_WRITES", LIMITS.rate_limit_writes)
    rate_limit_reads: int = _env("RATE_LIMIT_READS", LIMITS.rate_limit_reads)
    rate_limit_invalid: int = _env("RATE_LIMIT_INVALID", LIMITS.rate_limit_invalid)
    rate_limit_window_seconds: int = _env(
        "RATE_LIMIT_WINDOW_SECONDS", LIMITS.rate_limit_window_seconds, 1)
    connections_per_user: int = _env("CONNECTIONS_PER_USER", LIMITS.connections_per_user, 1)
    cors_origin: str = _env("CORS_ORIGIN", "*")  # deployed stages set the site's origin
    # Posts in flight per function: a 20 ms round trip over ~0.3 ms of CPU per post
    # keeps one vCPU busy with about 64 (a page of 500 takes 8 round trips).
    fanout_threads: int = _env("FANOUT_THREADS", 64, 1)
    # Management API calls per second per function process: where the adaptive
    # rate starts and the most it climbs back to (the account's rate), and the
    # least it slows down to on 429s (chalicelib/send_rate.py).
    fanout_rate_max: int = _env("FANOUT_RATE_MAX", 10000, 1)
    fanout_rate_min: int = _env("FANOUT_RATE_MIN", 50, 1)
    # Rooms with more connections are delivered by several functions at once.
    big_room_connections: int = _env("BIG_ROOM_CONNECTIONS", LIMITS.big_room_connections, 1)
    websocket_api_id: str = _env("WEBSOCKET_API_ID", "")  # the stream handler posts with it
    websocket_stage: str = _env("WEBSOCKET_STAGE", "api")
    connection_ttl_seconds: int = _env(
        "CONNECTION_TTL_SECONDS", LIMITS.connection_ttl_seconds, 1)
    client_id_ttl_seconds: int = _env("CLIENT_ID_TTL_SECONDS", LIMITS.client_id_ttl_seconds, 1)
    # Usernames (comma-separated; kept lowercased) who moderate every public and private room.
    admin_users: frozenset[str] = _env("ADMIN_USERS", "")
    # X-Ray traces (chalicelib/tracing.py): "on" or "off"; infra's xray_tracing sets it per stage.
    tracing: bool = _env("TRACING", "off")
    # Share of invocations (0 to 1) logged at debug level (chalicelib/observability.py);
    # Powertools' own name for it.
    log_sample_rate: float = _env("POWERTOOLS_LOGGER_SAMPLE_RATE", 0)
    # Fixed by tables.json, not by the environment.
    room_index: str = index_name("connections", "room")
    user_index: str = index_name("connections", "username_key")


def table_name(logical: str, environ: Mapping[str, str] | None = None) -> str:
    """The physical name of a table from tables.json, for this environment."""
    spec = TABLES[logical]
    return (environ if environ is not None else os.environ).get(
        spec["name_env"], spec["default_name"]
    )


def _parse(name: str, kind: Any, raw: str, minimum: int) -> Any:
    if kind is int:
        value = int(raw)
        if value < minimum:
            raise ValueError(f"{name} must be at least {minimum}, got {value}")
        return value
    if kind is str:
        return raw
    if kind is bool:  # "on" or "off"
        if raw.strip().lower() not in ("on", "off"):
            raise ValueError(f"{name} must be on or off, got {raw!r}")
        return raw.strip().lower() == "on"
    if kind is float:  # a share, 0 to 1
        share = float(raw)
        if not 0 <= share <= 1:
            raise ValueError(f"{name} must be between 0 and 1, got {share}")
        return share
    if kind == frozenset[str]:
        return frozenset(item.strip().lower() for item in raw.split(",") if item.strip())
    raise TypeError(f"settings: no reader for {kind!r} ({name})")


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from an environment mapping (default: os.environ); ValueError for nonsense."""
    env = environ if environ is not None else os.environ
    kinds = get_type_hints(Settings)
    values = {
        field.name: _parse(
            field.metadata["env"], kinds[field.name],
            env.get(field.metadata["env"], field.metadata["default"]), field.metadata["minimum"],
        )
        for field in dataclasses.fields(Settings) if "env" in field.metadata
    }
    return Settings(**values)


@lazy.cached()
def get() -> Settings:
    """The settings of this container (read once; tests call lazy.reset())."""
    return load()
