"""Reliability tests: the summary line at the end of the run, and the shared fixtures.

The environment is set before app.py is imported (settings are read once per
process); tests/chalicelib/conftest.py sets the same variables when it runs
first, so whichever comes first wins and both agree.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.reliability.tally import TALLY
from tests.support import environment

environment.apply(overwrite=False)


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
def backend(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The handlers against fresh moto tables; PostToConnection answered on a loopback port."""
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    import app as chat_app
    from chalicelib import lazy
    from chalicelib.connections_api import ENDPOINT_ENV
    from chatapp import motointernals
    from chatapp.tables import ensure_tables
    from tests.reliability.inprocess import Backend, ManagementAPI
    from tests.support.management_server import serve_management_api

    # The local runtime's moto: a cancelled transaction (a retried sendMessage whose
    # clientId is stored) leaves no stream record behind, as on DynamoDB.
    motointernals.install()
    lazy.reset()
    management = ManagementAPI()
    with mock_aws():
        lazy.reset()  # a client made inside the mock
        dynamodb = boto3.client("dynamodb")
        ensure_tables(dynamodb)
        with serve_management_api(management) as endpoint:
            monkeypatch.setenv(ENDPOINT_ENV, endpoint)
            # An empty project dir: no stage variables from .chalice/config.json.
            with Client(chat_app.app, project_dir=str(tmp_path)) as client:
                yield Backend(client, management, dynamodb)
    lazy.reset()
