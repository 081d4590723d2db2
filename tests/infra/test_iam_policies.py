"""Each function's IAM policy, proven by running its handler under exactly that policy.

moto's DynamoDB, SSM, STS and IAM run in process with IAM enforcement on; each
function gets a role carrying the policy .chalice/permissions.json generates
(infra/tools/stage_config.py), and its handler runs with that role's assumed
credentials through a chat: sign up, log in and log out, handing a throttled
close to deliver_to_connections (api_handler), connect
(websocket_connect), send, page and move rooms (websocket_message), the stream
handlers reading their stream as their event source mapping does (with the
function's role), disconnect. tests/infra/iam_enforcement.py makes moto judge
each call against its table, index, stream, parameter or function ARN as AWS
does, and records it: a call a handler makes that its policy does not allow
fails here, naming the call. execute-api:ManageConnections stays unchecked
(moto does not check post_to_connection). Handlers that another branch adds
(on_connection_changes, deliver_to_connections) are driven once app.py has them.
"""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar
from urllib.parse import unquote

import boto3
import pytest
from chalice.local import LambdaContext
from chalice.test import Client
from moto import mock_aws
from moto.core.authorization import enable_iam_authentication

from chalicelib import lazy, revocation, settings
from chatapp.dynamodb import ensure_tables
from chatapp.streams import dynamodb_event_sources, lambda_record
from infra.tools import stage_config
from tests.support import environment, events
from tests.support.management_server import serve_on_loopback

from .iam_enforcement import AwsLikeChecks, Check, aws_like_checks

STAGE = "dev"
ACCOUNT = "123456789012"  # moto's
REGION = "us-east-1"
SECRET_PARAMETER = f"/chalice-chat/{STAGE}/jwt-secret"
# The Python function behind each Lambda (Chalice names the Lambda after it,
# except the WebSocket handlers and the REST function, which serves every route).
HANDLERS = {
    "websocket_connect": "connect",
    "websocket_message": "message",
    "websocket_disconnect": "disconnect",
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def chalice_app() -> Any:
    """app.py's Chalice app, imported under the test environment (it reads settings then)."""
    environment.apply(overwrite=False)  # never over a role's credentials
    return importlib.import_module("app").app


def in_app(function: str) -> bool:
    """Whether app.py has this Lambda yet (other branches add some)."""
    if function == stage_config.REST_FUNCTION:
        return True
    return HANDLERS.get(function, function) in chalice_app().handler_map


@dataclass
class Account:
    """The emulated account: tables, the secret, one role per function."""

    values: stage_config.StageValues
    credentials: dict[str, dict[str, str]]
    record: AwsLikeChecks
    client: Client

    def checks_of(self, function: str) -> list[Check]:
        role = stage_config.lambda_name(STAGE, function) + "-role"
        return [check for check in self.record.checks if check.principal == role]


class _AcceptEveryPost(BaseHTTPRequestHandler):
    """The Management API's answer to every post and close (moto does not check
    execute-api, so this test does not either); connections in `gone` are gone (410),
    closing those in `refused` is throttled (429)."""

    gone: ClassVar[set[str]] = set()
    refused: ClassVar[set[str]] = set()  # their DeleteConnection is throttled (429)

    def _accept(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        connection = unquote(self.path.rsplit("/", 1)[-1])
        if connection in self.gone:
            self.send_response(410)
        elif connection in self.refused and self.command == "DELETE":
            self.send_response(429)
        else:
            self.send_response(200 if self.command == "POST" else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_DELETE = _accept

    def log_message(self, format: str, *args: object) -> None:
        pass


def management_api() -> AbstractContextManager[str]:
    return serve_on_loopback(_AcceptEveryPost)


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "")
    return buffer.getvalue()


def _stage_values(dynamodb: Any) -> stage_config.StageValues:
    names = {logical: settings.table_name(logical) for logical in stage_config.TABLES}
    streams = {
        logical: dynamodb.describe_table(TableName=names[logical])["Table"]["LatestStreamArn"]
        for logical in stage_config.STREAM_TABLES
    }
    return stage_config.StageValues(
        stage=STAGE,
        region=REGION,
        account_id=ACCOUNT,
        partition="aws",
        table_names=names,
        stream_arns=streams,
        jwt_secret_parameter=SECRET_PARAMETER,
        site_origin="https://d111111abcdef8.cloudfront.net",
        websocket_api_id=events.API_ID,
    )


def aws(service: str) -> Any:
    """A client with the environment's credentials now (boto3's default session caches them)."""
    return boto3.session.Session().client(service)


@contextmanager
def running_as(account: Account, function: str) -> Iterator[None]:
    """The handler's AWS calls made with the function's role, IAM enforced."""
    websocket_api = chalice_app().websocket_api
    session = websocket_api.session
    with pytest.MonkeyPatch.context() as patch:
        for name, value in account.credentials[function].items():
            patch.setenv(name, value)
        # As Lambda sets it: the functions find their siblings' deployed names from it.
        patch.setenv("AWS_LAMBDA_FUNCTION_NAME", stage_config.lambda_name(STAGE, function))
        lazy.reset()  # sessions and clients made again, with these credentials
        websocket_api.session, websocket_api._client = boto3.session.Session(), None
        try:
            with enable_iam_authentication():
                yield
        finally:
            websocket_api.session, websocket_api._client = session, None
            lazy.reset()


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    app = chalice_app()
    with (
        pytest.MonkeyPatch.context() as patch,
        mock_aws(config={"lambda": {"use_docker": False}}),
        management_api() as endpoint,
    ):
        patch.setenv("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", endpoint)
        # Deployed shape: the secret comes from SSM, not from the environment.
        patch.setenv("JWT_SECRET", "")
        patch.setenv("JWT_SECRET_PARAMETER", SECRET_PARAMETER)
        # Every room of two is "big": the fan-out hands pages to deliver_to_connections.
        patch.setenv("BIG_ROOM_CONNECTIONS", "1")
        patch.setenv("ADMIN_USERS", "carol")  # reads the reports
        lazy.reset()
        dynamodb = boto3.client("dynamodb")
        ensure_tables(dynamodb)
        boto3.client("ssm").put_parameter(
            Name=SECRET_PARAMETER, Value="s" * 64, Type="SecureString"
        )
        values = _stage_values(dynamodb)
        iam, sts = boto3.client("iam"), boto3.client("sts")
        credentials = {}
        for function in stage_config.PERMISSIONS:
            role = stage_config.lambda_name(STAGE, function) + "-role"
            arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST))[
                "Role"
            ]["Arn"]
            iam.put_role_policy(
                RoleName=role,
                PolicyName="policy",
                PolicyDocument=json.dumps(stage_config.policy(values, function)),
            )
            if function == "deliver_to_connections":  # the target of on_new_messages' Invoke
                boto3.client("lambda").create_function(
                    FunctionName=stage_config.lambda_name(STAGE, function),
                    Runtime="python3.12",
                    Role=arn,
                    Handler="app.deliver_to_connections",
                    Code={"ZipFile": _empty_zip()},
                )
            assumed = sts.assume_role(RoleArn=arn, RoleSessionName=function)["Credentials"]
            credentials[function] = {
                "AWS_ACCESS_KEY_ID": assumed["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": assumed["SecretAccessKey"],
                "AWS_SESSION_TOKEN": assumed["SessionToken"],
            }
        with (
            aws_like_checks() as record,
            Client(app, project_dir=str(tmp_path_factory.mktemp("project"))) as client,
        ):
            yield Account(values, credentials, record, client)
    lazy.reset()


# ----------------------------------------------------------- the chat, per role


def _rest(account: Account, path: str, body: dict[str, Any]) -> Any:
    return account.client.http.post(
        path, headers={"Content-Type": "application/json"}, body=json.dumps(body).encode()
    )


def _call(
    account: Account, method: str, path: str, token: str, body: Any = None
) -> Any:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    data = b"" if body is None else json.dumps(body).encode()
    return account.client.http.request(method, path, headers=headers, body=data)


def _rooms_routes(account: Account, token: str) -> dict[str, int]:
    """POST /rooms, members, moderators, blocks and the directory: their status codes."""
    calls = [
        ("POST", "/rooms", {"room": "team", "kind": "private"}),
        ("PUT", "/rooms/team/members/bob", None),
        ("PUT", "/rooms/team/moderators/bob", None),
        ("DELETE", "/rooms/team/moderators/bob", None),
        ("PUT", "/blocks/carol", None),
        ("GET", "/blocks", None),
        ("DELETE", "/blocks/carol", None),
        ("GET", "/directory?prefix=g", None),
    ]
    return {
        f"{method} {path}": _call(account, method, path, token, body).status_code
        for method, path, body in calls
    }


def _first_message_id(account: Account, room: str) -> str:
    """The oldest message of a room, read with the test's own credentials."""
    items = aws("dynamodb").query(
        TableName=account.values.table_names["messages"],
        KeyConditionExpression="room = :r",
        ExpressionAttributeValues={":r": {"S": room}},
        Limit=1,
    )["Items"]
    return items[0]["id"]["S"]


def _as_mapping(account: Account, function: str, table: str, after: dict[str, str]) -> Any:
    """What the event source mapping does: read the stream with the function's role, invoke."""
    stream_arn = account.values.stream_arns[table]
    streams = aws("dynamodbstreams")
    records = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        start = after.get(shard["ShardId"])
        position = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": start}
            if start
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], **position
        )["ShardIterator"]
        batch = streams.get_records(ShardIterator=iterator, Limit=100)["Records"]
        if batch:
            after[shard["ShardId"]] = batch[-1]["dynamodb"]["SequenceNumber"]
        records += [lambda_record(record, stream_arn, REGION) for record in batch]
    if not records:
        return None
    # Invoked as Lambda would: the context names the deployed function, whose
    # siblings (the delivery function) the handler derives from it.
    context = LambdaContext(stage_config.lambda_name(STAGE, function), memory_size=1769)
    return chalice_app().handler_map[function]({"Records": records}, context)


@pytest.fixture(scope="module")
def chat(account: Account) -> dict[str, Any]:
    """One conversation, each step under the role of the function AWS would run it in."""
    seen: dict[str, dict[str, str]] = {table: {} for table in stage_config.STREAM_TABLES}
    outcome: dict[str, Any] = {}
    token: dict[str, str] = {}
    with running_as(account, "api_handler"):
        for name in ("alice", "bob", "carol"):
            signup = _rest(account, "/signup", {"username": name, "password": "correct horse"})
            token[name] = signup.json_body["token"]
        outcome["wrong password"] = _rest(
            account, "/login", {"username": "alice", "password": "wrong horse"}
        ).status_code
        login = _rest(account, "/login", {"username": "alice", "password": "correct horse"})
        outcome["login"] = login.status_code
        renewed = _rest(account, "/refresh", {"refreshToken": login.json_body["refreshToken"]})
        outcome["refresh"] = renewed.status_code
        token["alice"] = renewed.json_body["token"]
        outcome["health"] = account.client.http.get("/health").status_code
        # Rooms with owners (protocol v3): every new route once, as alice.
        outcome["rooms routes"] = _rooms_routes(account, token["alice"])
        dm = _call(account, "POST", "/dms", token["alice"], {"username": "bob"}).json_body["room"]
    connections = {name: events.connection_id() for name in ("alice", "bob")}
    connections["bob in team"] = events.connection_id()
    with running_as(account, "websocket_connect"):
        for name, connection in connections.items():
            room = "team" if name == "bob in team" else "general"
            user = name.split()[0]
            query = {"token": token[user], "room": room}
            event = events.ws_event("$connect", connection, query=query)
            outcome[f"connect {name}"] = account.client.lambda_.invoke("connect", event).payload
    frames = [
        {"action": "sendMessage", "text": "hello"},
        {"action": "sendMessage", "text": "once", "clientId": "c-1"},
        {"action": "getMessages", "limit": 10},
        # Changes take the room's next revision (rooms) and are read back by rev-index.
        {"action": "editMessage", "id": "000000000001", "text": "hello again"},
        {"action": "deleteMessage", "id": "000000000002", "clientId": "d-1"},
        {"action": "getChanges", "sinceRev": 0},
        {"action": "ping"},
        {"action": "getMembers"},
        {"action": "typing"},
        {"action": "joinRoom", "room": "random"},
        {"action": "joinRoom", "room": dm},
        {"action": "sendMessage", "text": "in the direct room"},  # checks blocks
        {"action": "joinRoom", "room": "general"},
    ]
    with running_as(account, "websocket_message"):
        for frame in frames:
            event = events.ws_event("$default", connections["alice"], body=json.dumps(frame))
            account.client.lambda_.invoke("message", event)
        # An invalid frame is counted against its user (and the session checked).
        event = events.ws_event("$default", connections["alice"], body="{not json")
        account.client.lambda_.invoke("message", event)
    # Bob's socket has gone without a $disconnect: the fan-out must delete it.
    _AcceptEveryPost.gone = {connections["bob"]}
    for function, table in stage_config.stream_sources().items():
        if in_app(function):
            with running_as(account, function):
                outcome[function] = _as_mapping(account, function, table, seen[table])
    if in_app("deliver_to_connections"):
        with running_as(account, "deliver_to_connections"):
            for _, payload in account.record.invoke_payloads:
                account.client.lambda_.invoke("deliver_to_connections", json.loads(payload))
    with running_as(account, "api_handler"):
        bearer = {"Authorization": f"Bearer {token['alice']}"}
        outcome["rooms"] = account.client.http.get("/rooms", headers=bearer).status_code
        hello = _first_message_id(account, "general")
        report = {"room": "general", "id": hello, "reason": "a test"}
        outcome["report"] = _call(account, "POST", "/reports", token["bob"], report).status_code
        outcome["reports"] = _call(account, "GET", "/reports", token["carol"]).status_code
        # Removal takes bob's connection out of the room and tells it so.
        outcome["remove"] = _call(
            account, "DELETE", "/rooms/team/members/bob", token["alice"]
        ).status_code
        # Closing one of bob's sockets stays throttled through the logout: the
        # close is handed to deliver_to_connections (an asynchronous Invoke).
        _AcceptEveryPost.refused = {connections["bob in team"]}
        handed_from = len(account.record.invoke_payloads)
        outcome["logout"] = account.client.http.post(
            "/logout", headers={"Authorization": f"Bearer {token['bob']}"}
        ).status_code
        _AcceptEveryPost.refused = set()
    handed = account.record.invoke_payloads[handed_from:]
    outcome["close handed to"] = [function for function, _ in handed]
    if in_app("deliver_to_connections"):
        # Later the service answers 410 while the connection's record still exists (it
        # would be opening): the delivery function reads it, and hands the close on.
        _AcceptEveryPost.gone.add(connections["bob in team"])
        with (
            running_as(account, "deliver_to_connections"),
            pytest.MonkeyPatch.context() as patch,
        ):
            patch.setattr(revocation, "HANDED_OVER_CLOSE_SECONDS", 0.5)
            # Invoked as Lambda would: the context names the deployed function,
            # which hands what is still open back to itself.
            delivery = stage_config.lambda_name(STAGE, "deliver_to_connections")
            context = LambdaContext(delivery, memory_size=1769)
            for _, payload in handed:
                chalice_app().handler_map["deliver_to_connections"](json.loads(payload), context)
        outcome["close handed on to"] = [
            function for function, _ in account.record.invoke_payloads[handed_from + 1:]
        ]
    with running_as(account, "websocket_disconnect"):
        event = events.ws_event("$disconnect", connections["bob"])
        account.client.lambda_.invoke("disconnect", event)
    return outcome


# ------------------------------------------------------------------- the proof


def test_the_chat_ran_as_a_user_sees_it(chat: dict[str, Any]) -> None:
    assert chat["login"] == 200 and chat["health"] == 200 and chat["refresh"] == 200
    assert chat["wrong password"] == 401
    assert chat["rooms"] == 200 and chat["logout"] == 204
    assert chat["rooms routes"] == {
        "POST /rooms": 201, "PUT /rooms/team/members/bob": 204,
        "PUT /rooms/team/moderators/bob": 204, "DELETE /rooms/team/moderators/bob": 204,
        "PUT /blocks/carol": 204, "GET /blocks": 200, "DELETE /blocks/carol": 204,
        "GET /directory?prefix=g": 200,
    }
    assert chat["connect bob in team"]["statusCode"] == 200
    assert (chat["report"], chat["reports"], chat["remove"]) == (201, 200, 204)
    assert chat["connect alice"]["statusCode"] == 200
    assert chat["on_new_messages"] == {"batchItemFailures": []}
    delivery = stage_config.lambda_name(STAGE, "deliver_to_connections")
    assert chat["close handed to"] == [delivery]
    assert chat["close handed on to"] == [delivery]


@pytest.mark.parametrize("function", sorted(stage_config.PERMISSIONS))
def test_every_call_a_function_makes_is_allowed_by_its_policy(
    function: str, account: Account, chat: dict[str, Any]
) -> None:
    if not in_app(function):
        pytest.skip(f"{function} is not in app.py on this branch; re-run after merging it")
    checks = account.checks_of(function)
    if function == "deliver_to_connections":
        assert account.record.invoke_payloads, (
            "on_new_messages invoked deliver_to_connections for no room: lower the fan-out's"
            " room threshold for this test (its environment variable) so a room is handed over"
        )
    assert checks, f"{function} made no AWS call the emulator checks: the scenario missed it"
    denied = [str(check) for check in checks if not check.allowed]
    assert not denied, (
        f"{function} made calls its policy does not allow; add them to"
        f" .chalice/permissions.json (and NAMES.md):\n  " + "\n  ".join(denied)
    )


def test_the_stream_handler_reads_its_stream_with_its_own_role(
    account: Account, chat: dict[str, Any]
) -> None:
    made = {(c.action, c.resource) for c in account.checks_of("on_new_messages")}
    stream = account.values.stream_arns["messages"]
    assert {("dynamodb:DescribeStream", stream), ("dynamodb:GetRecords", stream)} <= made


def test_a_transaction_is_checked_per_item(account: Account, chat: dict[str, Any]) -> None:
    made = {(c.action, c.resource) for c in account.checks_of("websocket_message")}
    assert ("dynamodb:PutItem", account.values.table_arn("guards")) in made
    assert ("dynamodb:PutItem", account.values.table_arn("messages")) in made


def _denied(account: Account, function: str, call: Any) -> Check:
    before = len(account.record.checks)
    with running_as(account, function), pytest.raises(Exception, match="AccessDenied"):
        call()
    (check,) = account.record.checks[before:]
    assert not check.allowed
    return check


def test_the_message_handler_cannot_read_password_hashes(account: Account) -> None:
    users = account.values.table_names["users"]
    check = _denied(
        account,
        "websocket_message",
        lambda: aws("dynamodb").get_item(TableName=users, Key={"username_key": {"S": "alice"}}),
    )
    assert check.resource == account.values.table_arn("users")


def test_the_stream_handler_cannot_read_the_signing_secret(account: Account) -> None:
    check = _denied(
        account,
        "on_new_messages",
        lambda: aws("ssm").get_parameter(Name=SECRET_PARAMETER, WithDecryption=True),
    )
    assert check.action == "ssm:GetParameter"


def test_the_disconnect_handler_cannot_read_messages(account: Account) -> None:
    messages = account.values.table_names["messages"]
    _denied(
        account,
        "websocket_disconnect",
        lambda: aws("dynamodb").query(
            TableName=messages,
            KeyConditionExpression="room = :r",
            ExpressionAttributeValues={":r": {"S": "general"}},
        ),
    )


def test_stream_sources_match_the_app(account: Account) -> None:
    """permissions.json's streams are the tables the app's stream handlers read."""
    registered = {source.name for source, _ in dynamodb_event_sources(chalice_app())}
    assert registered <= set(stage_config.stream_sources())
