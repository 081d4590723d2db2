"""The environment every in-process test and benchmark runs the backend under:
fake AWS credentials (never a real account), a region, a throwaway JWT secret,
cheap bcrypt, and a WebSocket API id for the stream handler.

Applied before app.py is imported: settings are read once per process.
"""

from __future__ import annotations

import os

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # Current botocore puts the account id in DynamoDB endpoints; moto answers 404 then.
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}
TEST_ENVIRONMENT = {
    **FAKE_AWS,
    "JWT_SECRET": os.urandom(32).hex(),
    "BCRYPT_ROUNDS": "4",
    "WEBSOCKET_API_ID": "testapi123",
}


def apply(overwrite: bool = True) -> None:
    """Put TEST_ENVIRONMENT into os.environ (or only what is not set yet)."""
    for name, value in TEST_ENVIRONMENT.items():
        if overwrite or name not in os.environ:
            os.environ[name] = value


def share_sdk_data() -> None:
    """Let every botocore session in this process share one loader of the SDK's data files.

    Each new session parses endpoints, partitions and service models again
    (~0.3 s, mostly JSON). Tests make a fresh session per test (`lazy.reset()`),
    so without this the backend suite spends most of its time there. The data is
    read-only, as it already is for the clients of one session. Never in
    benchmarks: cold-start figures must pay what a container pays.
    """
    import functools

    import botocore.loaders
    import botocore.session

    botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)
