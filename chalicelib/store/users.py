"""The users table: one item per account, keyed by the lowercased name."""

from __future__ import annotations

from typing import Any, NamedTuple

from chalicelib import errors
from chalicelib.store.items import s as _s


class User(NamedTuple):
    username: str
    password_hash: str


class Users:
    """Accounts: create one (names are unique ignoring case), read one."""

    def __init__(self, client: Any, table: str) -> None:
        self._client, self._table = client, table

    def create(self, username: str, password_hash: str, created_at: str) -> None:
        """Store a new user; UsernameTaken if the name exists in any case (one conditional put)."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "username_key": _s(username.lower()),
                    "username": _s(username),
                    "password_hash": _s(password_hash),
                    "created_at": _s(created_at),
                },
                ConditionExpression="attribute_not_exists(username_key)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            raise errors.UsernameTaken("that username is taken") from None

    def get(self, username: str) -> User | None:
        """The user with this name, ignoring case, or None."""
        item = self._client.get_item(
            TableName=self._table,
            Key={"username_key": _s(username.lower())},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        return User(item["username"]["S"], item["password_hash"]["S"])
