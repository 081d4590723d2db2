"""Reliability tests: the summary line at the end of the run, and the shared fixtures.

The in-process backend is tests/support/inprocess.py's, as in tests/chalicelib.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.reliability.tally import TALLY
from tests.support import inprocess
from tests.support.inprocess import Chat

# The fixtures this directory offers.
moto_tables, aws = inprocess.moto_tables, inprocess.aws
outbox, client, chat = inprocess.outbox, inprocess.client, inprocess.chat
moto_transactions = inprocess.moto_transactions


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TALLY.tests:
        terminalreporter.write_sep("-", TALLY.line())


@pytest.fixture
def tally() -> Any:
    return TALLY


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry delays cut to 1 ms: how long it waits is not under test, the bound is."""
    import botocore.retries.standard

    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.001
    )


@pytest.fixture
def backend(moto_transactions: None, chat: Chat) -> Chat:
    """The handlers against fresh moto tables, PostToConnection answered on a loopback port;
    with the local runtime's transactions: a cancelled one (a retried sendMessage whose
    clientId is stored) leaves no stream record behind, as on DynamoDB."""
    return chat
