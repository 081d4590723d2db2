"""The container's one boto3 session, shared by every AWS client the handlers make.

A botocore session loads the SDK's data files (endpoints, partitions, retry
and default configuration) the first time one of its clients needs them, and
keeps them. With a session per client, the stream handler (a DynamoDB client
and a Management API client) loaded them twice in every cold start.

Tests that mock AWS in-process must import moto before app.py: moto hooks the
sessions created after its import, and this one is created when app.py is.
"""

from __future__ import annotations

import boto3
import botocore.session
from botocore.config import Config

from chalicelib import lazy, settings


@lazy.cached()
def session() -> boto3.session.Session:
    """The session (made at import of app.py, before any handler thread exists)."""
    core = botocore.session.get_session()
    # Defaults for every client; a client may override them (the store does).
    core.set_default_client_config(
        Config(
            max_pool_connections=settings.get().fanout_threads,
            retries={"mode": "standard", "max_attempts": 3},
        )
    )
    return boto3.session.Session(botocore_session=core)
