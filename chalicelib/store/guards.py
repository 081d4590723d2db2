"""The guards table's windows and typing items: counting hits, thinning typing frames.

A window counts hits against a limit. It opens at its first hit and lasts
window_s seconds, so a quick burst of limit + 1 always meets the limit
(windows aligned to the clock let a burst through that straddles a boundary).
Counting is one conditional update: parallel callers can never all pass.
The other guards items have their repositories beside this one
(connection_slots.py, room_occupancy.py; the idempotency markers in messages.py).
"""

from __future__ import annotations

import contextlib
from typing import Any

from chalicelib.store.items import n as _n
from chalicelib.store.items import s as _s


class Guards:
    """Windows (`rate#…`, `login#…`, `signup#…`, strikes) and typing items in guards."""

    def __init__(self, client: Any, table: str) -> None:
        self._client, self._table = client, table

    def take_from_window(self, guard_key: str, limit: int, window_s: int, now_s: int) -> int:
        """Count one hit; 0 if it fits the window, else the seconds until the window closes."""
        key = {"guard_key": _s(guard_key)}
        cutoff = now_s - window_s  # a window that opened at or before this has closed
        failed_check = self._client.exceptions.ConditionalCheckFailedException
        for _ in range(3):
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET hits = hits + :one",
                    ConditionExpression="opened_at > :cutoff AND hits < :limit",
                    ExpressionAttributeValues={
                        ":one": _n(1), ":cutoff": _n(cutoff), ":limit": _n(limit)
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return 0
            except failed_check as failed:
                old = failed.response.get("Item")
            if old is not None and int(old["opened_at"]["N"]) > cutoff:
                return min(max(1, int(old["opened_at"]["N"]) - cutoff), window_s)
            try:  # no window, or it has closed: open one now with this hit
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        **key, "hits": _n(1), "opened_at": _n(now_s), "ttl": _n(now_s + window_s)
                    },
                    ConditionExpression="attribute_not_exists(guard_key) OR opened_at <= :cutoff",
                    ExpressionAttributeValues={":cutoff": _n(cutoff)},
                )
                return 0
            except failed_check:
                continue  # another caller opened it first: count in it
        return window_s  # contended three times over: refuse rather than guess

    def give_back_to_window(self, guard_key: str) -> None:
        """Undo one hit (a reserved attempt that turned out not to count)."""
        # Nothing to undo when the window was gone or empty already.
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self._table,
                Key={"guard_key": _s(guard_key)},
                UpdateExpression="SET hits = hits - :one",
                ConditionExpression="hits > :zero",
                ExpressionAttributeValues={":one": _n(1), ":zero": _n(0)},
            )

    def forget_window(self, guard_key: str) -> None:
        self._client.delete_item(TableName=self._table, Key={"guard_key": _s(guard_key)})

    def pass_typing(self, typist: str, now_ms: int, interval_ms: int) -> bool:
        """Whether a typing frame from this typist (a user in a room) passes (one per interval)

        The last time passed on lives in guards (`typing#<typist>`), shared by
        every container and on no streamed table; one conditional put decides.
        """
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "guard_key": _s(f"typing#{typist}"),
                    "passed_at": _n(now_ms),
                    "ttl": _n(now_ms // 1000 + 60),
                },
                ConditionExpression="attribute_not_exists(guard_key) OR passed_at <= :cutoff",
                ExpressionAttributeValues={":cutoff": _n(now_ms - interval_ms)},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True
