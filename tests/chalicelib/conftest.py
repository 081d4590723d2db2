"""Backend tests: the Chalice app against moto's in-process DynamoDB (tests/support/inprocess.py).

Each test gets fresh tables from chalicelib/tables.json; `chat` drives the
handlers as API Gateway would and `outbox` records what they sent.
"""

from __future__ import annotations

from tests.support import inprocess

# The fixtures this directory offers.
aws, outbox, client, chat = inprocess.aws, inprocess.outbox, inprocess.client, inprocess.chat
moto_transactions, stopped_clock = inprocess.moto_transactions, inprocess.stopped_clock
