"""Every setting of the backend, read once from the environment.

Table definitions come from tables.json and protocol limits from limits.json
(both beside this file, the one copy everything else reads too). Environment
variables, set per stage in .chalice/config.json, choose names, secrets and
the tunable limits. `load()` builds a frozen `Settings`; `get()` keeps it per
container (chalicelib.lazy).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from chalicelib import lazy

HERE = Path(__file__).resolve().parent
TABLES: dict[str, dict[str, Any]] = {
    name: spec
    for name, spec in json.loads((HERE / "tables.json").read_text()).items()
    if not name.startswith("_")
}
LIMITS: dict[str, Any] = json.loads((HERE / "limits.json").read_text())



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

# Documented defaults for every environment variable that is not a table name.
ENVIRONMENT_DEFAULTS: dict[str, str] = {
    **{
        spec["stream_arn_env"]: placeholder_stream_arn(logical)
        for logical, spec in TABLES.items()
        if "stream_arn_env" in spec
    },
    "JWT_SECRET": "",  # local runs: the secret itself
    "JWT_SECRET_PARAMETER": "",  # deployed: an SSM SecureString with the key set (keys.py)
    "TOKEN_LIFETIME_SECONDS": str(LIMITS["token_lifetime_seconds"]),
    "SESSION_LIFETIME_SECONDS": str(LIMITS["session_lifetime_seconds"]),
    "BCRYPT_ROUNDS": "12",
    "LOGIN_FAILURES_PER_USER_IP": str(LIMITS["login_failures_per_user_ip"]),
    "LOGIN_FAILURES_PER_IP": str(LIMITS["login_failures_per_ip"]),
    "LOGIN_FAILURES_PER_USER": str(LIMITS["login_failures_per_user"]),
    "LOGIN_WINDOW_SECONDS": str(LIMITS["login_window_seconds"]),
    "SIGNUPS_PER_IP": str(LIMITS["signups_per_ip"]),
    "SIGNUP_WINDOW_SECONDS": str(LIMITS["signup_window_seconds"]),
    "RATE_LIMIT_WRITES": str(LIMITS["rate_limit_writes"]),  # 0 disables
    "RATE_LIMIT_READS": str(LIMITS["rate_limit_reads"]),  # 0 disables
    "RATE_LIMIT_INVALID": str(LIMITS["rate_limit_invalid"]),  # 0 disables
    "RATE_LIMIT_WINDOW_SECONDS": str(LIMITS["rate_limit_window_seconds"]),
    "CONNECTIONS_PER_USER": str(LIMITS["connections_per_user"]),
    "CORS_ORIGIN": "*",  # deployed stages set the site's origin
    # Posts in flight per function: a 20 ms round trip over ~0.3 ms of CPU per post
    # keeps one vCPU busy with about 64 (a page of 500 takes 8 round trips).
    "FANOUT_THREADS": "64",
    # Management API calls per second per function process: where the adaptive
    # rate starts and the most it climbs back to (the account's rate), and the
    # least it slows down to on 429s (chalicelib/send_rate.py).
    "FANOUT_RATE_MAX": "10000",
    "FANOUT_RATE_MIN": "50",
    # Rooms with more connections are delivered by several functions at once.
    "BIG_ROOM_CONNECTIONS": str(LIMITS["big_room_connections"]),
    "WEBSOCKET_API_ID": "",  # needed by the stream handler to post to connections
    "WEBSOCKET_STAGE": "api",
    "CONNECTION_TTL_SECONDS": str(LIMITS["connection_ttl_seconds"]),
    "CLIENT_ID_TTL_SECONDS": str(LIMITS["client_id_ttl_seconds"]),
    "ADMIN_USERS": "",  # comma-separated usernames who moderate every public and private room
    # X-Ray traces (chalicelib/tracing.py): "on" or "off"; infra's xray_tracing sets it per stage.
    "TRACING": "off",
    # Share of invocations (0 to 1) logged at debug level (chalicelib/observability.py);
    # Powertools' own name for it.
    "POWERTOOLS_LOGGER_SAMPLE_RATE": "0",
}


class Settings(NamedTuple):
    users_table: str
    connections_table: str
    messages_table: str
    rooms_table: str
    guards_table: str
    memberships_table: str
    sessions_table: str
    room_index: str
    user_index: str
    messages_stream_arn: str
    connections_stream_arn: str
    jwt_secret: str
    jwt_secret_parameter: str
    token_lifetime_seconds: int
    session_lifetime_seconds: int
    bcrypt_rounds: int
    login_failures_per_user_ip: int
    login_failures_per_ip: int
    login_failures_per_user: int
    login_window_seconds: int
    signups_per_ip: int
    signup_window_seconds: int
    rate_limit_writes: int
    rate_limit_reads: int
    rate_limit_invalid: int
    rate_limit_window_seconds: int
    connections_per_user: int
    cors_origin: str
    fanout_threads: int
    fanout_rate_max: int
    fanout_rate_min: int
    big_room_connections: int
    websocket_api_id: str
    websocket_stage: str
    connection_ttl_seconds: int
    client_id_ttl_seconds: int
    blocks_table: str = ""
    reports_table: str = ""
    admin_users: frozenset[str] = frozenset()  # lowercased
    tracing: bool = False
    log_sample_rate: float = 0.0


def table_name(logical: str, environ: Mapping[str, str] | None = None) -> str:
    """The physical name of a table from tables.json, for this environment."""
    spec = TABLES[logical]
    return (environ if environ is not None else os.environ).get(
        spec["name_env"], spec["default_name"]
    )


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from an environment mapping (default: os.environ)."""
    env = dict(ENVIRONMENT_DEFAULTS)
    env.update(environ if environ is not None else os.environ)

    def choice(name: str, values: tuple[str, str]) -> bool:
        """True for the first of two words, False for the second."""
        value = env[name].strip().lower()
        if value not in values:
            raise ValueError(f"{name} must be {' or '.join(values)}, got {env[name]!r}")
        return value == values[0]

    def share(name: str) -> float:
        value = float(env[name])
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
        return value

    def integer(name: str, minimum: int = 0) -> int:
        value = int(env[name])
        if value < minimum:
            raise ValueError(f"{name} must be at least {minimum}, got {value}")
        return value

    return Settings(
        users_table=table_name("users", env),
        connections_table=table_name("connections", env),
        messages_table=table_name("messages", env),
        rooms_table=table_name("rooms", env),
        guards_table=table_name("guards", env),
        memberships_table=table_name("memberships", env),
        sessions_table=table_name("sessions", env),
        room_index=index_name("connections", "room"),
        user_index=index_name("connections", "username_key"),
        messages_stream_arn=env["MESSAGES_STREAM_ARN"],
        connections_stream_arn=env["CONNECTIONS_STREAM_ARN"],
        jwt_secret=env["JWT_SECRET"],
        jwt_secret_parameter=env["JWT_SECRET_PARAMETER"],
        token_lifetime_seconds=integer("TOKEN_LIFETIME_SECONDS", 1),
        session_lifetime_seconds=integer("SESSION_LIFETIME_SECONDS", 1),
        bcrypt_rounds=integer("BCRYPT_ROUNDS", 4),
        login_failures_per_user_ip=integer("LOGIN_FAILURES_PER_USER_IP", 1),
        login_failures_per_ip=integer("LOGIN_FAILURES_PER_IP", 1),
        login_failures_per_user=integer("LOGIN_FAILURES_PER_USER", 1),
        login_window_seconds=integer("LOGIN_WINDOW_SECONDS", 1),
        signups_per_ip=integer("SIGNUPS_PER_IP", 1),
        signup_window_seconds=integer("SIGNUP_WINDOW_SECONDS", 1),
        rate_limit_writes=integer("RATE_LIMIT_WRITES", 0),
        rate_limit_reads=integer("RATE_LIMIT_READS", 0),
        rate_limit_invalid=integer("RATE_LIMIT_INVALID", 0),
        rate_limit_window_seconds=integer("RATE_LIMIT_WINDOW_SECONDS", 1),
        connections_per_user=integer("CONNECTIONS_PER_USER", 1),
        cors_origin=env["CORS_ORIGIN"],
        fanout_threads=integer("FANOUT_THREADS", 1),
        fanout_rate_max=integer("FANOUT_RATE_MAX", 1),
        fanout_rate_min=integer("FANOUT_RATE_MIN", 1),
        big_room_connections=integer("BIG_ROOM_CONNECTIONS", 1),
        websocket_api_id=env["WEBSOCKET_API_ID"],
        websocket_stage=env["WEBSOCKET_STAGE"],
        connection_ttl_seconds=integer("CONNECTION_TTL_SECONDS", 1),
        client_id_ttl_seconds=integer("CLIENT_ID_TTL_SECONDS", 1),
        blocks_table=table_name("blocks", env),
        reports_table=table_name("reports", env),
        admin_users=frozenset(
            name.strip().lower() for name in env["ADMIN_USERS"].split(",") if name.strip()
        ),
        tracing=choice("TRACING", ("on", "off")),
        log_sample_rate=share("POWERTOOLS_LOGGER_SAMPLE_RATE"),
    )


@lazy.cached()
def get() -> Settings:
    """The settings of this container (read once; tests call lazy.reset())."""
    return load()
