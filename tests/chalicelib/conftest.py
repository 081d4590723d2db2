"""Backend tests: the Chalice app against moto's in-process DynamoDB (tests/support/inprocess.py).

Each module gets the tables of chalicelib/tables.json once, emptied for each test; `chat` drives the
handlers as API Gateway would and `outbox` records what they sent.
"""

from __future__ import annotations

from tests.support import inprocess

# The fixtures this directory offers.
moto_tables, aws = inprocess.moto_tables, inprocess.aws
outbox, client, chat = inprocess.outbox, inprocess.client, inprocess.chat
moto_transactions, stopped_clock = inprocess.moto_transactions, inprocess.stopped_clock
