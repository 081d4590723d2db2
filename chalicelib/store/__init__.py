"""The storage layer: one repository per table (one module each), built here once per process.

Every DynamoDB call the backend makes is in this package (nothing else imports
DynamoDB). Each repository is a class given its client, table names and, where
it reads time, the clock; the functions below build the container's instances
from settings, lazily (chalicelib/lazy.py: `lazy.reset()` forgets them). A
test may build a repository itself with a fake client or a set clock.

Uses the low-level client, not the resource layer: it is what a cold Lambda
can create fastest, and the items are small enough to write out by hand.
Tables and their keys are defined in tables.json; names come from settings.
Repositories store and read; they decide nothing (policy lives above them).
"""

from __future__ import annotations

from typing import Any

from botocore.config import Config

from chalicelib import aws, clock, lazy, settings
from chalicelib.store.blocks import Blocks
from chalicelib.store.connection_slots import ConnectionSlots
from chalicelib.store.connections import Connections
from chalicelib.store.frame_reads import FrameReads
from chalicelib.store.guards import Guards
from chalicelib.store.memberships import MembershipRecords
from chalicelib.store.messages import Messages
from chalicelib.store.reports import Reports
from chalicelib.store.roles import Roles
from chalicelib.store.room_occupancy import RoomOccupancy
from chalicelib.store.rooms import Rooms
from chalicelib.store.sessions import Sessions
from chalicelib.store.users import Users


@lazy.cached()
def client() -> Any:
    """The container's DynamoDB client (created once; boto3 clients are thread-safe)."""
    # Its service model is ~100,000 objects that live as long as the container.
    with lazy.lasting():
        return aws.session().client(
            "dynamodb",
            # Bounded retries with backoff for throttling; enough pooled
            # connections for the fan-out's threads. No client-side parameter
            # validation: every request is built here, typed by items.s()/n(),
            # and DynamoDB validates it again anyway; botocore's walk of the
            # input shape was about a seventh of each call's CPU in the client.
            config=Config(
                retries={"mode": "standard", "max_attempts": 4},
                max_pool_connections=max(10, settings.get().fanout_threads),
                parameter_validation=False,
            ),
        )


# ---------------------------------------------------- the container's repositories


@lazy.cached()
def users() -> Users:
    return Users(client(), settings.get().users_table)


@lazy.cached()
def sessions() -> Sessions:
    return Sessions(client(), settings.get().sessions_table, clock.get())


@lazy.cached()
def connections() -> Connections:
    config = settings.get()
    return Connections(
        client(), config.connections_table, config.user_index, config.room_index,
        config.connection_ttl_seconds,
    )


@lazy.cached()
def messages() -> Messages:
    config = settings.get()
    return Messages(
        client(), config.messages_table, config.rooms_table, config.guards_table,
        config.client_id_ttl_seconds, config.memberships_table,
    )


@lazy.cached()
def rooms() -> Rooms:
    return Rooms(client(), settings.get().rooms_table, settings.index_name("rooms", "listed"))


@lazy.cached()
def roles() -> Roles:
    """Roles, bans and entering (the memberships table; store/roles.py)."""
    return Roles(
        client(), settings.get().memberships_table,
        settings.index_name("memberships", "username_key"),
    )


@lazy.cached()
def memberships() -> MembershipRecords:
    """Read markers and presence sets (the memberships table; store/memberships.py)."""
    return MembershipRecords(client(), settings.get().memberships_table)


@lazy.cached()
def guards() -> Guards:
    return Guards(client(), settings.get().guards_table)


@lazy.cached()
def connection_slots() -> ConnectionSlots:
    config = settings.get()
    return ConnectionSlots(client(), config.guards_table, config.connection_ttl_seconds)


@lazy.cached()
def room_occupancy() -> RoomOccupancy:
    return RoomOccupancy(client(), settings.get().guards_table)


@lazy.cached()
def blocks() -> Blocks:
    return Blocks(client(), settings.get().blocks_table)


@lazy.cached()
def reports() -> Reports:
    return Reports(
        client(), settings.get().reports_table, settings.index_name("reports", "listed")
    )


@lazy.cached()
def frame_reads() -> FrameReads:
    config = settings.get()
    return FrameReads(
        client(), config.connections_table, config.rooms_table, config.memberships_table
    )
