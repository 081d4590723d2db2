"""moto 5.2.1's IAM enforcement made to judge DynamoDB, SSM and Lambda calls as AWS does.

Test-only. moto checks the action name of each request against the caller's
policies, but matches a statement's Resource against the literal "*" (so a
policy naming real ARNs denies everything and a "*" policy allows every table),
checks TransactWriteItems as its own action instead of per item, and Invoke as
`lambda:Invoke`. `AwsLikeChecks` wraps `IAMRequestBase.check_action_permitted`
so each request is checked as the (action, resource) pairs AWS evaluates: the
table, index, stream, parameter or function ARN taken from the request, one
pair per item of a Transact*/Batch* call. Every check is recorded, so a test can
show which calls a handler made and which were allowed.

Still unchecked: execute-api (moto does not check post_to_connection when the
endpoint URL carries a stage) and conditions (moto ignores them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import moto
from moto.iam.access_control import IAMRequestBase

WRITTEN_FOR = "5.2.1"
# TransactWriteItems / TransactGetItems: each item is authorised as its own action.
TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
STREAM_ACTIONS = {"DescribeStream", "GetShardIterator"}


@dataclass(frozen=True)
class Check:
    principal: str  # the role whose credentials made the call
    action: str
    resource: str
    allowed: bool

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "DENIED"
        return f"{self.principal}: {self.action} on {self.resource} ({verdict})"


@dataclass
class AwsLikeChecks:
    """The checks made while active, in order."""

    checks: list[Check] = field(default_factory=list)
    invoke_payloads: list[tuple[str, bytes]] = field(default_factory=list)

    def clear(self) -> None:
        self.checks.clear()
        self.invoke_payloads.clear()


def _arn(request: IAMRequestBase, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{request._region}:{request.account_id}:{resource}"


def _table(request: IAMRequestBase, name: str, index: str | None = None) -> str:
    return _arn(request, "dynamodb", f"table/{name}" + (f"/index/{index}" if index else ""))


def _stream_of_iterator(iterator: str) -> str:
    # moto's shard iterators start with the stream's ARN ("<arn>/stream/<label>|...").
    return iterator.split("|", 1)[0]


def requested(request: IAMRequestBase, recorder: AwsLikeChecks) -> list[tuple[str, str]]:
    """The (action, resource ARN) pairs AWS would authorise for this request."""
    service, _, action = request._action.partition(":")
    body: dict[str, Any] = {}
    if request._body and service in ("dynamodb", "ssm"):
        body = json.loads(request._body)
    if service == "dynamodb":
        if action in ("TransactWriteItems", "TransactGetItems"):
            pairs = []
            for item in body["TransactItems"]:
                ((kind, detail),) = item.items()
                item_action = f"dynamodb:{TRANSACT_ITEM_ACTIONS[kind]}"
                pairs.append((item_action, _table(request, detail["TableName"])))
            return pairs
        if action in ("BatchWriteItem", "BatchGetItem"):
            return [(request._action, _table(request, name)) for name in body["RequestItems"]]
        if action in STREAM_ACTIONS:
            return [(request._action, body["StreamArn"])]
        if action == "GetRecords":
            return [(request._action, _stream_of_iterator(body["ShardIterator"]))]
        if action == "ListStreams":
            return [(request._action, _table(request, body.get("TableName", "*")) + "/stream/*")]
        if "TableName" in body:
            return [(request._action, _table(request, body["TableName"], body.get("IndexName")))]
    if service == "ssm" and "Name" in body:
        name = body["Name"] if body["Name"].startswith("/") else f"/{body['Name']}"
        return [(request._action, _arn(request, "ssm", f"parameter{name}"))]
    if service == "lambda" and action == "Invoke":
        # /2015-03-31/functions/<name or ARN>/invocations
        function = unquote(request._path.split("/functions/", 1)[1].split("/invocations")[0])
        recorder.invoke_payloads.append((function, request._body))
        if not function.startswith("arn:"):
            function = _arn(request, "lambda", f"function:{function}")
        return [("lambda:InvokeFunction", function)]
    return [(request._action, "*")]


@contextmanager
def aws_like_checks() -> Iterator[AwsLikeChecks]:
    """Patch moto's permission check for the duration; yields the record of checks."""
    if moto.__version__ != WRITTEN_FOR:
        raise RuntimeError(
            f"tests/infra/iam_enforcement.py was written for moto {WRITTEN_FOR}, found"
            f" {moto.__version__}: check its IAM enforcement still needs this"
        )
    recorder = AwsLikeChecks()
    original = IAMRequestBase.check_action_permitted

    def check(self: IAMRequestBase, resource: str) -> None:
        principal = getattr(self._access_key, "_owner_role_name", "?")
        for action, arn in requested(self, recorder):
            self._action = action
            try:
                original(self, arn)
            except Exception:
                recorder.checks.append(Check(principal, action, arn, allowed=False))
                raise
            recorder.checks.append(Check(principal, action, arn, allowed=True))

    IAMRequestBase.check_action_permitted = check
    try:
        yield recorder
    finally:
        IAMRequestBase.check_action_permitted = original
