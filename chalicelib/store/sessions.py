"""The sessions table: session families, refresh-token hashes, each user's sessions.

Three kinds of item share the table's one key, `session_key`:

    session#<sid>   one login's session: username, started_at, expires_at (absolute),
                    refresh_hash (the one unspent refresh token), device_nonce,
                    ended_at once ended, and `connections` (a string set of its open
                    WebSocket connection ids, read strongly consistently at logout)
    refresh#<hash>  one refresh token ever issued, by its SHA-256: its session and
                    whether it was spent (kept until the session's absolute end, so a
                    replayed one is recognised as spent, not as unknown)
    user#<name>     the user's session ids (for logout everywhere)

Only hashes of refresh tokens are stored. This repository stores and reads; the
policy (lifetimes, what a reuse means) lives in chalicelib/auth.py.
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

from chalicelib.clock import Clock
from chalicelib.store.items import Item
from chalicelib.store.items import n as _n
from chalicelib.store.items import s as _s


class SessionRecord(NamedTuple):
    session_id: str
    username: str
    started_at: int  # epoch seconds
    expires_at: int  # epoch seconds: the absolute end, however often refreshed
    ended_at: int | None
    device_nonce: str
    connections: frozenset[str]

    def active(self, now_s: int) -> bool:
        return self.ended_at is None and now_s < self.expires_at


class Spent(Exception):
    """The refresh token was spent before: its session is to be ended (theft detected)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(session_id)
        self.session_id = session_id


class Sessions:
    """Session families on DynamoDB (one table, three item kinds; see the module doc)."""

    def __init__(self, client: Any, table: str, clock: Clock) -> None:
        self._client, self._table, self._clock = client, table, clock

    # ---------------------------------------------------------------- reads

    def get(self, session_id: str) -> SessionRecord | None:
        """The session (a strongly consistent read), or None."""
        item = self._client.get_item(
            TableName=self._table, Key=self._key(f"session#{session_id}"), ConsistentRead=True
        ).get("Item")
        return None if item is None else self._record(item)

    def of_user(self, username: str) -> list[str]:
        """Every session id the user has started and not yet ended everywhere."""
        item = self._client.get_item(
            TableName=self._table, Key=self._key(f"user#{username.lower()}"), ConsistentRead=True
        ).get("Item") or {}
        return sorted(item.get("sessions", {}).get("SS", []))

    # --------------------------------------------------------------- writes

    def start(
        self, session_id: str, username: str, refresh_hash: str, device_nonce: str,
        expires_at: int,
    ) -> None:
        """A new session with its first refresh token, listed under its user: one transaction."""
        now_s, ttl = self._clock.now_s(), _n(expires_at + 86400)
        self._client.transact_write_items(TransactItems=[
            {"Put": {
                "TableName": self._table,
                "Item": {
                    **self._key(f"session#{session_id}"),
                    "username": _s(username), "started_at": _n(now_s),
                    "expires_at": _n(expires_at), "refresh_hash": _s(refresh_hash),
                    "device_nonce": _s(device_nonce), "ttl": ttl,
                },
                "ConditionExpression": "attribute_not_exists(session_key)",
            }},
            {"Put": {
                "TableName": self._table,
                "Item": {
                    **self._key(f"refresh#{refresh_hash}"),
                    "session_id": _s(session_id), "spent": {"BOOL": False}, "ttl": ttl,
                },
                "ConditionExpression": "attribute_not_exists(session_key)",
            }},
            {"Update": {
                "TableName": self._table,
                "Key": self._key(f"user#{username.lower()}"),
                "UpdateExpression": "ADD sessions :sid",
                "ExpressionAttributeValues": {":sid": {"SS": [session_id]}},
            }},
        ])

    def rotate(self, old_hash: str, new_hash: str, now_s: int) -> SessionRecord | None:
        """Spend refresh token `old_hash` and make `new_hash` its session's one refresh token.

        The session, or None when the token is unknown or its session has ended or
        expired; Spent when the token was spent before (or is being spent at this
        moment by someone else: two holders of one token). One transaction: the
        old token's spent flag, the session's current hash, the new token's item.
        """
        old = self._client.get_item(
            TableName=self._table, Key=self._key(f"refresh#{old_hash}"), ConsistentRead=True
        ).get("Item")
        if old is None:
            return None
        session_id = old["session_id"]["S"]
        if old["spent"]["BOOL"]:
            raise Spent(session_id)
        session = self.get(session_id)
        if session is None or not session.active(now_s):
            return None
        ttl = _n(session.expires_at + 86400)
        try:
            self._client.transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self._table,
                    "Key": self._key(f"refresh#{old_hash}"),
                    "UpdateExpression": "SET spent = :true",
                    "ConditionExpression": "spent = :false",
                    "ExpressionAttributeValues": {
                        ":true": {"BOOL": True}, ":false": {"BOOL": False}
                    },
                }},
                {"Update": {
                    "TableName": self._table,
                    "Key": self._key(f"session#{session_id}"),
                    "UpdateExpression": "SET refresh_hash = :new",
                    "ConditionExpression": (
                        "attribute_not_exists(ended_at) AND expires_at > :now"
                        " AND refresh_hash = :old"
                    ),
                    "ExpressionAttributeValues": {
                        ":new": _s(new_hash), ":old": _s(old_hash), ":now": _n(now_s)
                    },
                }},
                {"Put": {
                    "TableName": self._table,
                    "Item": {
                        **self._key(f"refresh#{new_hash}"),
                        "session_id": _s(session_id), "spent": {"BOOL": False}, "ttl": ttl,
                    },
                    "ConditionExpression": "attribute_not_exists(session_key)",
                }},
            ])
        except self._client.exceptions.TransactionCanceledException as cancelled:
            reasons = [r.get("Code") for r in cancelled.response.get("CancellationReasons") or []]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise Spent(session_id) from None  # spent by a racing presenter of the same token
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                return None  # the session ended or expired meanwhile
            raise
        return session

    def end(self, session_id: str, now_s: int) -> SessionRecord | None:
        """End the session (idempotent); the session as ended, its connection ids included.

        The connection ids come from this very update (a write, so strongly
        consistent): a connection registered before it is in the set, and one
        registered after is refused by `attach_connection`.
        """
        try:
            item = self._client.update_item(
                TableName=self._table,
                Key=self._key(f"session#{session_id}"),
                UpdateExpression="SET ended_at = if_not_exists(ended_at, :now)",
                ConditionExpression="attribute_exists(session_key)",
                ExpressionAttributeValues={":now": _n(now_s)},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except self._client.exceptions.ConditionalCheckFailedException:
            return None
        return self._record(item)

    def forget_user_sessions(self, username: str, session_ids: list[str]) -> None:
        """Take ended sessions off the user's list."""
        if session_ids:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(f"user#{username.lower()}"),
                UpdateExpression="DELETE sessions :sids",
                ExpressionAttributeValues={":sids": {"SS": session_ids}},
            )

    def attach_connection(self, session_id: str, connection_id: str, now_s: int) -> bool:
        """Add a connection to an active session; False (nothing added) once it has ended."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(f"session#{session_id}"),
                UpdateExpression="ADD connections :cid",
                ConditionExpression=(
                    "attribute_exists(session_key) AND attribute_not_exists(ended_at) "
                    "AND expires_at > :now"
                ),
                ExpressionAttributeValues={":cid": {"SS": [connection_id]}, ":now": _n(now_s)},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def detach_connection(self, session_id: str, connection_id: str) -> None:
        """Take a closed connection off its session."""
        # A session gone already (its TTL) has nothing to take off.
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self._table,
                Key=self._key(f"session#{session_id}"),
                UpdateExpression="DELETE connections :cid",
                ConditionExpression="attribute_exists(session_key)",
                ExpressionAttributeValues={":cid": {"SS": [connection_id]}},
            )

    # -------------------------------------------------------------- helpers

    @staticmethod
    def _key(value: str) -> Item:
        return {"session_key": _s(value)}

    @staticmethod
    def _record(item: Item) -> SessionRecord:
        ended = item.get("ended_at")
        return SessionRecord(
            session_id=item["session_key"]["S"].partition("#")[2],
            username=item["username"]["S"],
            started_at=int(item["started_at"]["N"]),
            expires_at=int(item["expires_at"]["N"]),
            ended_at=int(ended["N"]) if ended else None,
            device_nonce=item["device_nonce"]["S"],
            connections=frozenset(item.get("connections", {}).get("SS", [])),
        )
