"""Client CPU per DynamoDB call: botocore's call machinery beside the same request sent bare.

    .venv/bin/python bench/client_calls.py            # 1,000 calls of each kind
    .venv/bin/python bench/client_calls.py --calls 3000

Against an embedded database in this process (its work runs on its own
threads; only the calling thread's CPU is counted): a strongly consistent
GetItem, the frame read's BatchGetItem (store/frame_reads.py: a room and a
membership) and a TransactWriteItems of a message's shape (store/messages.py:
the room's Update, the message's Put, the clientId marker; written again and
again, without conditions), each through the handlers' own client (`store.client()`: standard
retries, no client-side parameter validation) and through botocore with
validation on, beside the same JSON body sent as one SigV4-signed
`http.client` request on a kept-alive connection and its answer read with
`json.loads` (signed as chalicelib/connections_api.Signer signs; the embedded
database does not check signatures). The bare figure is the floor a lean
client could reach, not a client: it has no retries and no error handling.
No assertions: these are figures, not tests.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials

from chatapp.dynamodb import EmbeddedDynamoDB


def cpu_per_call(call: Callable[[], object], calls: int) -> float:
    """Milliseconds of this thread's CPU per call (after one warm-up call)."""
    call()
    started = time.thread_time()
    for _ in range(calls):
        call()
    return 1000 * (time.thread_time() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    db = EmbeddedDynamoDB().start()
    os.environ.update({
        "AWS_ENDPOINT_URL_DYNAMODB": db.endpoint, "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1",
    })
    from chalicelib import aws, settings, store
    from chalicelib.connections_api import Signer

    try:
        config = settings.get()
        get_item = {
            "TableName": config.rooms_table, "Key": {"room": {"S": "bench"}},
            "ConsistentRead": True,
        }
        batch_get = {"RequestItems": {
            config.rooms_table: {
                "Keys": [{"room": {"S": "bench"}}], "ConsistentRead": True,
                "ProjectionExpression": "kind, rev, messages",
            },
            config.memberships_table: {
                "Keys": [{"username_key": {"S": "bench"}, "room": {"S": "bench"}}],
                "ConsistentRead": True, "ProjectionExpression": "#r, banned, read_marker",
                "ExpressionAttributeNames": {"#r": "role"},
            },
        }}
        transact = {"TransactItems": [
            {"Update": {
                "TableName": config.rooms_table, "Key": {"room": {"S": "bench"}},
                "UpdateExpression": "SET rev = :next, messages = :count, last_message_at = :at"
                " REMOVE lease_owner, lease_until",
                "ExpressionAttributeValues": {
                    ":next": {"N": "2"}, ":count": {"N": "2"}, ":at": {"S": "2026-01-01T00:00:00Z"},
                },
            }},
            {"Put": {"TableName": config.messages_table, "Item": {
                "room": {"S": "bench"}, "id": {"S": "000000000002"}, "seq": {"N": "2"},
                "rev": {"N": "2"}, "ordinal": {"N": "2"}, "sender": {"S": "bench"},
                "text": {"S": "hello"}, "sent_at": {"S": "2026-01-01T00:00:00Z"},
                "client_id": {"S": "c-1"},
            }}},
            {"Put": {"TableName": config.guards_table, "Item": {
                "guard_key": {"S": "client#bench#bench#c-1"}, "message_id": {"S": "000000000002"},
                "ttl": {"N": "1999999999"},
            }}},
        ]}
        handlers = store.client()
        validating = aws.session().client(
            "dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 4})
        )
        parts = urlsplit(db.endpoint)
        connection = http.client.HTTPConnection(parts.netloc)
        signer = Signer(ReadOnlyCredentials("local", "local", None), "us-east-1")

        def bare(target: str, request: dict) -> Callable[[], object]:
            def call() -> object:
                body = json.dumps(request).encode()
                headers = signer.headers("POST", parts.netloc, "/", body, time.time())
                headers["X-Amz-Target"] = f"DynamoDB_20120810.{target}"
                headers["Content-Type"] = "application/x-amz-json-1.0"
                connection.request("POST", "/", body, headers)
                answer = connection.getresponse()
                payload = answer.read()
                if answer.status != 200:
                    raise RuntimeError(payload)
                return json.loads(payload)
            return call

        print(f"client CPU per call, {args.calls} calls each, against the embedded database")
        for name, target, method, request in (
            ("GetItem", "GetItem", "get_item", get_item),
            ("BatchGetItem (frame read)", "BatchGetItem", "batch_get_item", batch_get),
            ("TransactWriteItems", "TransactWriteItems", "transact_write_items", transact),
        ):
            mine = cpu_per_call(functools.partial(getattr(handlers, method), **request), args.calls)
            checked = cpu_per_call(
                functools.partial(getattr(validating, method), **request), args.calls
            )
            floor = cpu_per_call(bare(target, request), args.calls)
            print(
                f"  {name:26} handlers' client {mine:5.3f} ms   botocore with validation"
                f" {checked:5.3f} ms   bare signed request {floor:5.3f} ms"
            )
    finally:
        db.stop()


if __name__ == "__main__":
    main()
