"""The reports table: one item per (room, message, reporter); the newest by a sparse index."""

from __future__ import annotations

from typing import Any, NamedTuple

from chalicelib.store.items import s as _s

LISTED = "report"  # the one partition of recent-index (a moderation queue, not a hot path)


class Report(NamedTuple):
    room: str
    id: str
    sender: str
    text: str
    reporter: str
    reason: str
    reported_at: str

    def to_wire(self) -> dict[str, str]:
        return {
            "room": self.room, "id": self.id, "sender": self.sender, "text": self.text,
            "reporter": self.reporter, "reason": self.reason, "reportedAt": self.reported_at,
        }



class Reports:
    """Store a report once per reporter and message; read the newest."""

    def __init__(self, client: Any, table: str, recent_index: str) -> None:
        self._client, self._table, self._index = client, table, recent_index

    def add(self, report: Report) -> bool:
        """Store the report; False when this reporter already reported this message."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "report_key": _s(f"{report.room}#{report.id}#{report.reporter.lower()}"),
                    "listed": _s(LISTED),
                    "room": _s(report.room), "id": _s(report.id),
                    "sender": _s(report.sender), "text": _s(report.text),
                    "reporter": _s(report.reporter), "reason": _s(report.reason),
                    "reported_at": _s(report.reported_at),
                },
                ConditionExpression="attribute_not_exists(report_key)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def newest(self, limit: int) -> list[Report]:
        """Up to `limit` reports, newest first (one Query on the index)."""
        items = self._client.query(
            TableName=self._table,
            IndexName=self._index,
            KeyConditionExpression="listed = :listed",
            ExpressionAttributeValues={":listed": _s(LISTED)},
            ScanIndexForward=False,
            Limit=limit,
        )["Items"]
        return [
            Report(*(item[name]["S"] for name in (
                "room", "id", "sender", "text", "reporter", "reason", "reported_at")))
            for item in items
        ]
