"""A fix for moto 5.2's TransactWriteItems, applied inside the embedded DynamoDB only.

moto applies a transaction's writes one by one and, when a condition fails,
"rolls back" by swapping each table for a deep copy taken before. Three
consequences for a chat that sends every message with a clientId marker:

- the cancelled Put still appends a record to the stream, so a retried send
  is delivered twice although it was stored once;
- the restored table carries a new stream shard object, while every existing
  shard iterator still reads the old one: the stream goes silent for good;
- every transaction deep-copies every table it touches (the whole messages
  table per message), so sends slow down as history grows.

The replacement does what DynamoDB documents: check every condition first;
apply the writes only if all pass, under one lock so two transactions on the
same keys cannot interleave. Same exceptions, same cancellation reasons.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_applied = False


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto DynamoDBBackend.transact_write_items, checked first and then applied."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _lock:
        operations, reasons, seen = [], [], set()
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table = self.get_table(op["TableName"])
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            identity = (op["TableName"], str(sorted(key.items())))
            if identity in seen:
                raise MultipleTransactionsException()
            seen.add(identity)
            current = self.get_item(op["TableName"], key)
            condition = op.get("ConditionExpression")
            reason: tuple = (None, None, None)
            if condition is not None:
                check = get_filter_expression(
                    condition,
                    op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues"),
                )
                if not check.expr(current):
                    old = None
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        old = current.to_json()["Attributes"]
                    reason = ("ConditionalCheckFailed", "The conditional request failed", old)
            reasons.append(reason)
            operations.append((op_type, op, key))
        if any(code is not None for code, _, _ in reasons):
            raise TransactionCanceledException(reasons)
        for op_type, op, key in operations:  # conditions hold: write without re-checking
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(op["TableName"], op["Item"])
            elif op_type == "Delete":
                self.delete_item(op["TableName"], key)
            elif op_type == "Update":
                self.update_item(
                    op["TableName"],
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )


def apply() -> None:
    """Install the fix on moto's DynamoDB backend (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.dynamodb.models import DynamoDBBackend

    DynamoDBBackend.transact_write_items = transact_write_items
    _applied = True
