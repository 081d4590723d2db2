"""The embedded DynamoDB serves one request at a time and answers as moto's own code would."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chatapp import motointernals
from chatapp.tables import client, stream_arn, table_names
from tests.support.chatclient import call, unique
from tests.support.localserver import server_fixture

server = server_fixture(rate_limit=0)


@pytest.fixture
def eager_threads() -> Iterator[None]:
    """Threads switch every microsecond (not every 5 ms): interleavings show up at once."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def S(value: str) -> dict[str, str]:
    return {"S": value}


def test_concurrent_signups_of_one_name_make_one_user(server):
    name = unique("twin")[:24]
    body = {"username": name, "password": "pw-12345678"}
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: call(server.api_url, "/signup", body), range(10)))
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(201) == 1, statuses
    assert set(statuses) - {201} <= {409}, statuses


def test_conditional_puts_of_one_key_from_many_threads_let_exactly_one_through(
    ddb, eager_threads
):
    table, key = table_names()["guards"], unique("race")
    made: list[bool] = []

    def put(n: int) -> None:
        try:
            ddb.put_item(
                TableName=table, Item={"guard_key": S(key), "by": S(str(n))},
                ConditionExpression="attribute_not_exists(guard_key)",
            )
            made.append(True)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
            made.append(False)

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(put, range(20)))
    assert made.count(True) == 1, made


def test_plain_requests_and_answers_are_what_motos_own_parser_and_serializer_make(
    db, ddb, monkeypatch
):
    from moto.core.responses import BaseResponse
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    compared: list[tuple[str, bool]] = []

    def both(self: Any, result: Any) -> Any:
        fast = motointernals.serialized(self, result)
        slow = BaseResponse.serialized(self, result)
        same = (fast[0], fast[1], json.loads(fast[2])) == (slow[0], slow[1], json.loads(slow[2]))
        compared.append((self._get_action(), same))
        return fast

    def parsed_both(self: Any, request: Any) -> None:
        BaseResponse.parse_parameters(self, request)
        slow = self.params
        motointernals.parse_parameters(self, request)
        compared.append((f"parse {self._get_action()}", self.params == slow))

    monkeypatch.setattr(DynamoHandler, "serialized", both)
    monkeypatch.setattr(DynamoDBStreamsHandler, "serialized", both)
    monkeypatch.setattr(DynamoHandler, "parse_parameters", parsed_both)
    streams = client(db.endpoint, "dynamodbstreams")
    stream = streams.describe_stream(StreamArn=stream_arn(ddb, table_names()["messages"]))
    shard = stream["StreamDescription"]["Shards"][-1]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=stream["StreamDescription"]["StreamArn"], ShardId=shard,
        ShardIteratorType="LATEST",
    )["ShardIterator"]
    names = table_names()
    messages, rooms, guards = names["messages"], names["rooms"], names["guards"]
    room = unique("plain")
    item = {"room": S(room), "id": S("000000000001"), "rev": {"N": "1"}, "text": S("hi"),
            "deleted": {"BOOL": False}, "tags": {"SS": ["a", "b"]}, "meta": {"M": {
                "n": {"N": "2"}, "l": {"L": [S("x"), {"NULL": True}]}}}}
    ddb.put_item(TableName=messages, Item=item)
    ddb.get_item(TableName=messages, Key={"room": S(room), "id": S("000000000001")})
    ddb.get_item(TableName=messages, Key={"room": S(room), "id": S("000000000404")})
    ddb.update_item(
        TableName=rooms, Key={"room": S(room)}, UpdateExpression="SET rev = :one",
        ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="ALL_NEW",
    )
    ddb.query(
        TableName=messages, KeyConditionExpression="room = :room",
        ExpressionAttributeValues={":room": S(room)}, Limit=1,
    )
    ddb.batch_get_item(RequestItems={
        messages: {"Keys": [{"room": S(room), "id": S("000000000001")}], "ConsistentRead": True},
        rooms: {"Keys": [{"room": S(room)}], "ProjectionExpression": "rev"},
    })
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": guards, "Item": {"guard_key": S(room)},
                 "ConditionExpression": "attribute_not_exists(guard_key)"}},
    ])
    with pytest.raises(ClientError) as cancelled:  # an error: moto's serializer answers it
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": rooms, "Key": {"room": S(room)},
                        "UpdateExpression": "SET rev = :two",
                        "ConditionExpression": "rev = :zero",
                        "ExpressionAttributeValues": {":two": {"N": "2"}, ":zero": {"N": "0"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        ])
    reasons = cancelled.value.response["CancellationReasons"]
    assert reasons[0]["Item"]["rev"] == {"N": "1"}
    ddb.delete_item(TableName=messages, Key={"room": S(room), "id": S("000000000001")},
                    ReturnValues="ALL_OLD")
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "REMOVE"]
    assert compared and [action for action, same in compared if not same] == [], compared
    hot = {
        "PutItem", "GetItem", "UpdateItem", "Query", "BatchGetItem", "TransactWriteItems",
        "DeleteItem",
    }
    streams = {"GetShardIterator", "GetRecords"}  # (parsed from the query string by moto)
    assert {action for action, _ in compared} >= hot | streams | {f"parse {a}" for a in hot}


def test_moto_methods_the_short_ways_stand_in_for_keep_their_signatures(db):
    import inspect

    from moto.core.responses import BaseResponse
    from moto.core.serialize import TimestampSerializer

    def parameters(function: Any) -> list[str]:
        return list(inspect.signature(function).parameters)

    upgrade = "moto changed what chatapp/motointernals.py stands in for: "
    assert parameters(motointernals._original_update_item) == parameters(
        motointernals.update_item
    ), upgrade + "DynamoDBBackend.update_item"
    assert parameters(motointernals._original_project) == ["self", "projection_expressions"], (
        upgrade + "Item.project"
    )
    assert parameters(BaseResponse.parse_parameters) == ["self", "request"], upgrade
    assert parameters(BaseResponse.serialized) == ["self", "action_result"], upgrade
    assert parameters(BaseResponse._enrich_response) == ["headers", "body"], upgrade
    assert callable(TimestampSerializer._timestamp_unixtimestamp), upgrade


# Condition expressions as the handlers write them, and the shapes moto's parser knows.
CONDITIONS = [
    ("attribute_not_exists(id)", None, {}),
    ("attribute_exists(read_marker)", None, {}),
    ("rev = :expected AND (attribute_not_exists(lease_until) OR lease_until < :now"
     " OR lease_owner = :me)", None, {":expected": {"N": "3"}, ":now": {"N": "50"},
                                      ":me": {"S": "w1"}}),
    ("sender = :sender AND (attribute_not_exists(deleted) OR deleted <> :true)", None,
     {":sender": {"S": "bob"}, ":true": {"BOOL": True}}),
    ("#t = :text OR size(#t) > :n", {"#t": "text"}, {":text": {"S": "hi"}, ":n": {"N": "1"}}),
    ("rev BETWEEN :low AND :high", None, {":low": {"N": "1"}, ":high": {"N": "5"}}),
    ("lease_owner IN (:a, :b)", None, {":a": {"S": "w1"}, ":b": {"S": "w2"}}),
    ("NOT begins_with(lease_owner, :p) AND attribute_type(rev, :type)", None,
     {":p": {"S": "x"}, ":type": {"S": "N"}}),
    ("meta.tags[0] = :tag", None, {":tag": {"S": "a"}}),
]


def condition_items() -> list[Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    attributes: list[dict[str, Any]] = [
        {},
        {"rev": {"N": "3"}, "lease_owner": {"S": "w1"}, "lease_until": {"N": "40"},
         "text": {"S": "hi"}, "sender": {"S": "bob"}},
        {"rev": {"N": "4"}, "lease_owner": {"S": "w2"}, "lease_until": {"N": "99"},
         "text": {"S": "hello"}, "sender": {"S": "bob"}, "deleted": {"BOOL": True},
         "read_marker": {"S": "000000000001"}, "id": {"S": "000000000004"},
         "meta": {"M": {"tags": {"L": [{"S": "a"}]}}}},
    ]
    return [Item(DynamoType({"S": "room"}), None, attrs) for attrs in attributes]


def evaluated(condition: Any, item: Any) -> Any:
    """A condition's verdict on an item, or what it raised (moto's size() of nothing does)."""
    try:
        return condition.expr(item)
    except Exception as error:
        return f"{type(error).__name__}: {error}"


def moto_parse(expression: str, names: Any, values: Any) -> Any:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    parser = ConditionExpressionParser(expression, names, values)
    return motointernals._original_parse(parser), parser


def test_parsed_conditions_kept_by_text_evaluate_as_motos_own_parse_with_each_calls_values(db):
    from moto.dynamodb.comparisons import ConditionExpressionParser

    items = condition_items()
    for expression, names, values in CONDITIONS:
        # the same text again with other values: the kept tree must take this call's
        other = {
            name: {"N": str(int(value["N"]) + 1)} if "N" in value else value
            for name, value in values.items()
        }
        if ":me" in other:
            other[":me"] = {"S": "w2"}
        for these in (values, values, other, values):
            parser = ConditionExpressionParser(expression, names, these)
            kept = parser.parse()
            own, own_parser = moto_parse(expression, names, these)
            assert [evaluated(kept, item) for item in items] == [
                evaluated(own, item) for item in items
            ], (expression, these)
            assert parser.expr_attr_names_found == own_parser.expr_attr_names_found
            assert parser.expr_attr_values_found == own_parser.expr_attr_values_found
    assert any(expression in key for key in motointernals._conditions for expression, _, _ in
               CONDITIONS)


def test_a_kept_condition_with_a_value_missing_or_bad_syntax_fails_as_motos_own_parse(db):
    from moto.dynamodb.comparisons import ConditionExpressionParser

    def outcome(parse: Any, expression: str, values: Any) -> str:
        try:
            parse(ConditionExpressionParser(expression, None, values))
        except Exception as error:  # what moto raises, whatever it is
            return f"{type(error).__name__}: {error}"
        return "parsed"

    cases = [
        ("rev = :expected", {":expected": {"N": "1"}}),  # kept now
        ("rev = :expected", {":other": {"N": "1"}}),  # kept, but its value is missing
        ("rev = :expected", None),
        ("rev = = :expected", {":expected": {"N": "1"}}),
        ("((rev = :expected))", {":expected": {"N": "1"}}),
        ("size = :expected", {":expected": {"N": "1"}}),  # a reserved word
        ("attribute_exists()", {}),
    ]
    assert outcome(ConditionExpressionParser.parse, "#a = :v", {":v": {"N": "1"}}) == outcome(
        motointernals._original_parse, "#a = :v", {":v": {"N": "1"}}
    )  # no names given
    for expression, values in cases:
        for _ in range(2):  # first parse and the kept tree
            assert outcome(ConditionExpressionParser.parse, expression, values) == outcome(
                motointernals._original_parse, expression, values
            ), expression


def test_a_kept_condition_checks_each_writes_own_values_through_the_api(ddb):
    table, room = table_names()["rooms"], unique("kept")
    key = {"room": S(room)}
    ddb.put_item(TableName=table, Item={"room": S(room), "rev": {"N": "1"}})
    for expected, stored in ((1, True), (1, False), (2, True), (2, False), (3, True)):
        try:
            ddb.update_item(
                TableName=table, Key=key, UpdateExpression="SET rev = :next",
                ConditionExpression="rev = :expected",
                ExpressionAttributeValues={":next": {"N": str(expected + 1)},
                                           ":expected": {"N": str(expected)}},
            )
            assert stored, f"stored at {expected} although the room had moved on"
        except ClientError as error:
            assert not stored, f"refused at {expected}: {error}"
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert ddb.get_item(TableName=table, Key=key)["Item"]["rev"] == {"N": "4"}


def test_update_expressions_kept_by_text_are_what_motos_handlers_read_of_a_fresh_parse(db):
    import inspect

    import moto.dynamodb.responses as responses
    from moto.dynamodb.parsing.ast_nodes import ExpressionAttributeName
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    source = inspect.getsource(responses)
    assert source.count("UpdateExpressionParser.") == source.count(
        "UpdateExpressionParser.make("
    ), "moto's handlers use more of UpdateExpressionParser than make(): see motointernals"
    assert responses.UpdateExpressionParser is motointernals.ParsedUpdateExpressions
    for text in ("SET #t = :text, edited_at = :at, rev = :rev REMOVE edit_client_id",
                 "SET rev = :next REMOVE lease_owner, lease_until", "ADD n :one"):
        for _ in range(2):
            kept = responses.UpdateExpressionParser.make(text)
            fresh = UpdateExpressionParser.make(text)
            assert [
                name.get_attribute_name_placeholder()
                for name in kept.find_clauses([ExpressionAttributeName])
            ] == [
                name.get_attribute_name_placeholder()
                for name in fresh.find_clauses([ExpressionAttributeName])
            ]
    for _ in range(2):
        with pytest.raises(Exception) as kept_error:
            responses.UpdateExpressionParser.make("SET = :x")
        with pytest.raises(Exception) as own_error:
            UpdateExpressionParser.make("SET = :x")
        assert str(kept_error.value) == str(own_error.value)


def test_items_sized_once_are_what_motos_own_item_makes_and_refuses_at_the_same_size(db):
    import inspect

    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    assert f"> {motointernals._ITEM_SIZE_MAX}" in inspect.getsource(
        LimitedSizeDict.__setitem__
    ), "moto changed its item size limit: see motointernals.item_init"
    assert Item.__init__ is motointernals.item_init
    moto_own = next(
        original for owner, name, original in motointernals._original
        if owner is Item and name == "__init__"
    )

    def made(init: Any, attrs: dict[str, Any]) -> Any:
        item = Item.__new__(Item)
        try:
            init(item, DynamoType({"S": "room"}), None, attrs)
        except Exception as error:
            return type(error).__name__
        assert type(item.attrs) is LimitedSizeDict
        return {key: (value.type, value.value) for key, value in item.attrs.items()}

    limit = motointernals._ITEM_SIZE_MAX
    cases: list[dict[str, Any]] = [
        {},
        {"room": S("r"), "id": S("000000000001"), "rev": {"N": "12"}, "deleted": {"BOOL": True},
         "tags": {"SS": ["a", "b"]}, "meta": {"M": {"n": {"N": "2"}, "l": {"L": [S("x")]}}},
         "none": {"NULL": True}},
        {"a": S("x" * (limit - 1))},  # name and value exactly the limit: stored
        {"a": S("x" * limit)},  # one byte over: refused
        {"a": S("x" * 200000), "b": S("y" * 200000), "c": S("z" * 10000)},  # over at the third
        {"a": S("x" * 200000), "b": S("y" * 300000), "c": {"N": "1"}},  # over at the second
    ]
    for attrs in cases:
        assert made(motointernals.item_init, attrs) == made(moto_own, attrs), list(attrs)
    assert made(motointernals.item_init, cases[3]) == "ItemSizeTooLarge"


def test_attributes_set_with_a_kept_size_total_are_refused_where_motos_own_dict_refuses(db):
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict

    def outcome(set_them: Any, start: dict[str, Any], values: list[tuple[str, Any]]) -> Any:
        attrs = LimitedSizeDict()
        for key, value in start.items():
            dict.__setitem__(attrs, key, DynamoType(value))
        typed = [(name, DynamoType(value)) for name, value in values]
        try:
            set_them(attrs, typed)
        except Exception as error:
            return type(error).__name__, sorted(attrs)
        return {key: (value.type, value.value) for key, value in attrs.items()}

    def moto_own(attrs: Any, typed: list[tuple[str, Any]]) -> None:
        for name, value in typed:
            attrs[name] = value

    limit = motointernals._ITEM_SIZE_MAX
    big = {"room": S("r"), "text": S("x" * 200000)}
    cases: list[tuple[dict[str, Any], list[tuple[str, Any]]]] = [
        ({"room": S("r"), "rev": {"N": "1"}}, [("rev", {"N": "2"}), ("lease", S("w"))]),
        (big, [("text", S("y" * 200000))]),  # replaced, but counted twice when checked: refused
        (big, [("text", S("y" * 150000)), ("more", S("z" * 150000))]),  # the old text is gone
        (big, [("more", S("z" * 150000)), ("rest", S("z" * 60000))]),  # over at the second
        ({}, [("a", S("x" * (limit - 1)))]),  # exactly the limit
        ({}, [("a", S("x" * limit))]),  # one byte over
    ]
    for start, values in cases:
        assert outcome(motointernals.set_attributes, start, values) == outcome(
            moto_own, start, values
        ), [name for name, _ in values]



def test_a_condition_whose_names_are_not_strings_is_parsed_by_moto_alone(db):
    from moto.dynamodb.comparisons import ConditionExpressionParser

    def outcome(parse: Any, names: Any) -> str:
        parser = ConditionExpressionParser("attribute_not_exists(#r)", names, {})
        try:
            condition = parser.parse() if parse is None else parse(parser)
        except Exception as error:
            return f"{type(error).__name__}: {error}"
        return repr(evaluated(condition, condition_items()[1]))

    kept = len(motointernals._conditions)
    for names in ({"#r": ["room"]}, {"#r": {"S": "room"}}):
        assert outcome(None, names) == outcome(motointernals._original_parse, names)
    assert len(motointernals._conditions) == kept  # nothing kept for them


FREEZE_CHECK = """
import gc, weakref
from chatapp.server import freeze_start_up_objects

class Node:
    pass

garbage = Node()
garbage.self = garbage  # a cycle: only the collector frees it
gone = weakref.ref(garbage)
del garbage
freeze_start_up_objects()
assert gone() is None, "garbage was frozen"
assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()
assert gc.get_count()[0] < 100, gc.get_count()
"""


def test_start_up_objects_are_frozen_after_a_collection():
    import subprocess

    subprocess.run([sys.executable, "-c", FREEZE_CHECK], check=True, timeout=60)
