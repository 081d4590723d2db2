"""Everything the embedded DynamoDB takes from moto's internals, written for moto 5.2.1.

moto is an in-memory mock made for tests; the local runtime keeps it running
for days. What that takes leans on names moto does not promise to keep, so it
all sits here, and tests/chatapp/test_motointernals.py checks each name and
behaviour relied on: a moto upgrade that changes one fails there, saying why.

- transactions: moto's TransactWriteItems leaks stream records of cancelled
  transactions and detaches the stream; `install()` replaces it until undone.
- routing: moto's server matches the Host header against every service and
  routes through Flask; `route_directly` calls the DynamoDB handlers itself.
- snapshots: `table_items` reads items from moto's backends, not through a Scan.
- shard iterators: moto keeps every iterator it ever handed out (~2 KB each,
  one per GetRecords); `expire_iterators` drops them a sweep later.
- stream records: moto never trims them; `trim_streams` drops old ones.
- expression parsing: condition and update expressions parsed once per text
  (`parse_condition`, `update_expression_ast`), the values put in per call.
- tracked instances: moto's BaseModel appends every object it makes to a
  class-level list for its dashboard, deleted ones included. The objects made
  per request (each item written, each copy a Query returns, each stream
  record and iterator) are not tracked while installed (`untracked_new`);
  `forget_tracked_instances` empties the lists of everything else.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

log = logging.getLogger("chatapp.motointernals")

MOTO_VERSION = "5.2.1"
SERVICE_HANDLERS = {  # X-Amz-Target prefix → moto's response class for that service
    "DynamoDB_20120810": "moto.dynamodb.responses:DynamoHandler",
    "DynamoDBStreams_20120810": "moto.dynamodbstreams.responses:DynamoDBStreamsHandler",
}

_transaction_lock = threading.Lock()
_install_lock = threading.Lock()
_ABSENT = object()
_installs = 0  # install()s not undone yet
_original: list[tuple[Any, str, Any]] = []  # what install() replaced, while installed
_original_update_item: Any = None  # moto's DynamoDBBackend.update_item (update_item falls back)
_original_project: Any = None  # moto's Item.project (project falls back)


# -- TransactWriteItems ------------------------------------------------------------------


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto DynamoDBBackend.transact_write_items, every condition checked before any write.

    moto applies a transaction's writes one by one and, when a condition fails,
    "rolls back" by swapping each table for a deep copy taken before. So the
    cancelled Put still appends a stream record (a retried send is delivered
    twice although stored once), the restored table carries a new stream shard
    that no existing iterator reads (the stream goes silent for good), and every
    transaction deep-copies the tables it touches. This does what DynamoDB
    documents: check every condition first, then apply the writes, under one
    lock so two transactions on the same keys cannot interleave. Same
    exceptions, same cancellation reasons.
    """
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _transaction_lock:
        operations, reasons, seen = [], [], set()
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table = self.get_table(op["TableName"])
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            identity = (op["TableName"], str(sorted(key.items())))
            if identity in seen:
                raise MultipleTransactionsException()
            seen.add(identity)
            current = self.get_item(op["TableName"], key)
            condition = op.get("ConditionExpression")
            reason: tuple = (None, None, None)
            if condition is not None:
                check = get_filter_expression(
                    condition,
                    op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues"),
                )
                if not check.expr(current):
                    old = None
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        old = current.to_json()["Attributes"]
                    reason = ("ConditionalCheckFailed", "The conditional request failed", old)
            reasons.append(reason)
            operations.append((op_type, op, key))
        if any(code is not None for code, _, _ in reasons):
            raise TransactionCanceledException(reasons)
        for op_type, op, key in operations:  # conditions hold: write without re-checking
            if op_type == "Put":
                self.put_item(op["TableName"], op["Item"])
            elif op_type == "Delete":
                self.delete_item(op["TableName"], key)
            elif op_type == "Update":
                self.update_item(
                    op["TableName"],
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=op.get("ExpressionAttributeNames"),
                    expression_attribute_values=op.get("ExpressionAttributeValues"),
                )


def _patches() -> list[tuple[Any, str, Any]]:
    """(owner, attribute, replacement) of everything install() puts on moto."""
    import moto.core.responses as core_responses
    import moto.dynamodb.responses as dynamodb_responses
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    return [
        (ConditionExpressionParser, "parse", parse_condition),
        (dynamodb_responses, "UpdateExpressionParser", ParsedUpdateExpressions),
        (DynamoDBBackend, "transact_write_items", transact_write_items),
        (DynamoDBBackend, "update_item", update_item),
        (Item, "project", project),
        (Item, "__init__", item_init),
        (core_responses, "method_names_from_class", method_names_from_class),
        (DynamoHandler, "serialized", serialized),
        (DynamoHandler, "parse_parameters", parse_parameters),
        (DynamoDBStreamsHandler, "serialized", serialized),
        (DynamoDBStreamsHandler, "_enrich_response", staticmethod(enrich_response)),
        (DynamoHandler, "_enrich_response", staticmethod(enrich_response)),
        *((model, "__new__", staticmethod(untracked_new)) for model in _per_request_models()),
    ]


def _per_request_models() -> list[type]:
    """moto's models made per request: thousands a minute, each kept by its tracking list."""
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord
    from moto.dynamodbstreams.models import ShardIterator

    return [Item, StreamRecord, ShardIterator]


def untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    """moto BaseModel.__new__ without appending the object to the class's tracking list.

    The list only feeds moto's dashboard. Every item a Query returned stayed
    in it until the upkeep emptied it (30 per message in a room of 20): a
    database process of 50,000 objects grew to 225,000 in a 10 s load run,
    and each full garbage collection, which walks them all, stopped every
    request for 90-160 ms.
    """
    return object.__new__(cls)


# -- UpdateItem ---------------------------------------------------------------------------

# SET a = :v, #b = :w ... [REMOVE c, #d ...]: what the message path writes.
_SIMPLE_UPDATE = re.compile(
    r"SET (?P<sets>[#\w]+ = :\w+(?:, [#\w]+ = :\w+)*)(?: REMOVE (?P<removes>[#\w]+(?:, [#\w]+)*))?"
)
_MAX_SIMPLE_VALUES = 64 * 1024  # bigger writes go through moto's own size checks


def update_item(
    self: Any,
    table_name: str,
    key: dict[str, dict[str, Any]],
    update_expression: str,
    expression_attribute_names: dict[str, Any],
    expression_attribute_values: dict[str, Any],
    attribute_updates: dict[str, Any] | None = None,
    expected: dict[str, Any] | None = None,
    condition_expression: str | None = None,
    return_values_on_condition_check_failure: str | None = None,
) -> Any:
    """moto DynamoDBBackend.update_item, with a short way for plain SET/REMOVE of an item.

    moto validates an update expression by walking its tree about ten times and
    deep-copies the item first (for the stream's old image): two thirds of a
    send's transaction. An expression that only sets attributes to values and
    removes attributes, on an existing item, none of them a key of the table or
    an index, is applied here: parsed by moto as before (its errors stand), the
    condition checked by moto's parser, the values set, the old image copied
    only for a table with a stream. Anything else goes to moto's own method.
    """
    from moto.dynamodb.comparisons import create_condition_expression_parser
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        ItemSizeTooLarge,
        ItemSizeToUpdateTooLarge,
    )
    from moto.dynamodb.models.dynamo_type import DynamoType

    def moto_own() -> Any:
        return _original_update_item(
            self, table_name, key, update_expression, expression_attribute_names,
            expression_attribute_values, attribute_updates, expected, condition_expression,
            return_values_on_condition_check_failure,
        )

    names, values = expression_attribute_names or {}, expression_attribute_values or {}
    plan = _simple_update(update_expression or "", names, values)
    table = self.get_table(table_name)
    if (
        plan is None or attribute_updates or expected
        or set(table.attribute_keys) & ({name for name, _ in plan[0]} | set(plan[1]))
        or len(json.dumps(values)) > _MAX_SIMPLE_VALUES
    ):
        return moto_own()
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    item = table.get_item(hash_value, range_value)
    if item is None:
        return moto_own()  # moto creates it
    update_expression_ast(update_expression)  # its syntax errors, as moto raises them
    condition = create_condition_expression_parser(condition_expression, names, values).parse()
    if not condition.expr(item):
        if return_values_on_condition_check_failure == "ALL_OLD":
            raise ConditionalCheckFailed(item=item.to_json()["Attributes"])
        raise ConditionalCheckFailed
    old = copy.deepcopy(item) if table.stream_shard is not None else None
    before = dict(item.attrs)
    try:
        set_attributes(item.attrs, [(name, DynamoType(value)) for name, value in plan[0]])
    except ItemSizeTooLarge:
        dict.clear(item.attrs)
        dict.update(item.attrs, before)
        raise ItemSizeToUpdateTooLarge() from None
    for name in plan[1]:
        item.attrs.pop(name, None)
    if table.stream_shard is not None:
        table.stream_shard.add(old, item)
    return item


_ITEM_SIZE_MAX = 405000  # bytes: moto's LimitedSizeDict limit (DynamoDB documents 400 KB)


def item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
    """moto Item.__init__, the item's size summed once instead of at every attribute.

    moto's attribute dict re-adds the sizes of all attributes it holds on each
    insert (quadratic in the attributes: a message's item 39 µs, 22 µs here).
    This keeps a running total and refuses at the same attribute, with the
    same ItemSizeTooLarge, as moto's check does.
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = LimitedSizeDict()
    total = 0
    for key, value in attrs.items():
        typed = DynamoType(value)
        total += bytesize(str(key)) + typed.size()
        if total > _ITEM_SIZE_MAX:
            raise ItemSizeTooLarge
        dict.__setitem__(self.attrs, key, typed)


def set_attributes(attrs: Any, values: list[tuple[str, Any]]) -> None:
    """Set typed values in an item's LimitedSizeDict one by one, as its __setitem__ would.

    moto's check sums every attribute held at each set; this sums them once and
    keeps the total, counting as moto does (the replaced value is still counted
    when the new one is checked), so the same set raises ItemSizeTooLarge.
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.utilities import bytesize

    total = sum(bytesize(str(key)) + value.size() for key, value in attrs.items())
    for name, typed in values:
        size = bytesize(name) + typed.size()
        if total + size > _ITEM_SIZE_MAX:
            raise ItemSizeTooLarge
        replaced = attrs.get(name)
        dict.__setitem__(attrs, name, typed)
        total += size - (0 if replaced is None else bytesize(name) + replaced.size())


def project(self: Any, projection_expressions: list[list[str]]) -> Any:
    """moto Item.project: top-level attributes copied as they are.

    moto rebuilds every projected item through plain JSON and boto3's type
    serializer, checking its size attribute by attribute: most of a room-index
    Query (every connection of a room, projected to the index's attributes).
    A projection of top-level names only (what index projections are) copies
    those attributes; a nested path goes to moto's own method.
    """
    if not all(len(path) == 1 and "[" not in path[0] for path in projection_expressions):
        return _original_project(self, projection_expressions)
    projected = type(self)(self.hash_key, self.range_key, {})
    for (name,) in projection_expressions:
        if name in self.attrs:  # sizes hold: the item passed moto's checks when written
            dict.__setitem__(projected.attrs, name, copy.deepcopy(self.attrs[name]))
    return projected


# -- expression parsing -------------------------------------------------------------------
# The same few expression texts come with every message, and a transaction item's
# condition is parsed twice (validated in moto's handler, evaluated in the
# backend): parsing was about 45% of the database's CPU per send. Each text is
# parsed once and its syntax tree kept; what varies per call (the values of
# :placeholders) is put into the tree at each use.

_PARSED_MAX = 1024  # expression texts kept (the handlers use a few dozen)
_conditions: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[Any, list[str], list[str]]] = {}
_original_parse: Any = None  # moto's ConditionExpressionParser.parse (parse_condition falls back)


@functools.lru_cache(maxsize=_PARSED_MAX)
def update_expression_ast(update_expression: str) -> Any:
    """moto's syntax tree of an update expression, parsed once per text (a raise is not kept).

    Shared between calls: only for readers of the tree (moto's handlers look up
    the #names in it); moto's backend parses its own copy, which it rewrites.
    """
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )

    return UpdateExpressionParser.make(update_expression)


class ParsedUpdateExpressions:
    """Stands in for UpdateExpressionParser in moto's DynamoDB handlers (they only call make)."""

    make = staticmethod(update_expression_ast)


def parse_condition(self: Any) -> Any:
    """moto ConditionExpressionParser.parse, its syntax tree parsed once per text and names.

    moto's passes (lexing, paths, functions, comparators, IN, BETWEEN, AND/OR,
    the parentheses check) run on the first use of an expression with those
    attribute names, raising what moto raises; later uses take the tree, put
    this call's values in its :placeholders and build the condition from it
    with moto's own method. A placeholder missing from the values goes to
    moto's parse (which raises moto's error).
    """
    expression = self.condition_expression
    names, values = self.expression_attribute_names, self.expression_attribute_values
    if (
        not expression or not isinstance(expression, str)
        or (names and not all(isinstance(name, str) for name in names.values()))
    ):
        return _original_parse(self)  # (nothing to keep, or names no key can hold)
    key = (expression, tuple(sorted(names.items())) if names else ())
    parsed = _conditions.get(key)
    if parsed is None:
        node = self._lex_condition_expression()
        for moto_pass in (
            self._parse_paths, self._apply_functions, self._apply_comparator, self._apply_in,
            self._apply_between, self._apply_parens_and_booleans,
        ):
            node = moto_pass(node)
        tree = node[0]
        self._assert_no_redundant_parentheses(tree)
        parsed = (tree, self._find_literals(tree), self._find_expr_attr_values(tree))
        if len(_conditions) >= _PARSED_MAX:
            _conditions.clear()
        _conditions[key] = parsed
    tree, names_found, values_found = parsed
    if values_found and (values is None or not all(name in values for name in values_found)):
        return _original_parse(self)
    self.expr_attr_names_found.extend(names_found)
    self.expr_attr_values_found.extend(values_found)
    return self._make_op_condition(_with_values(tree, values or {}))


def _with_values(node: Any, values: dict[str, Any]) -> Any:
    """A condition syntax tree with each :placeholder's value taken from `values`."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    if node.kind == ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE:
        return node._replace(value=values[node.text])
    if not node.children:
        return node
    return node._replace(children=[_with_values(child, values) for child in node.children])


def _simple_update(
    expression: str, names: dict[str, str], values: dict[str, Any]
) -> tuple[list[tuple[str, Any]], list[str]] | None:
    """(attribute, value) to set and attributes to remove; None unless plainly that."""
    match = _SIMPLE_UPDATE.fullmatch(expression.strip())
    if match is None:
        return None
    sets: list[tuple[str, Any]] = []
    for assignment in match["sets"].split(", "):
        target, _, placeholder = assignment.partition(" = ")
        name = names.get(target) if target.startswith("#") else target
        if name is None or placeholder not in values:
            return None
        sets.append((name, values[placeholder]))
    removes = []
    for target in match["removes"].split(", ") if match["removes"] else []:
        name = names.get(target) if target.startswith("#") else target
        if name is None:
            return None
        removes.append(name)
    touched = [name for name, _ in sets] + removes
    if len(set(touched)) != len(touched):  # DynamoDB refuses overlapping paths: moto says so
        return None
    return sets, removes


def install() -> Callable[[], None]:
    """Put the fixes below on moto (transactions, per-call costs); returns their undo.

    Installs nest: moto's own code is back once every install has been undone
    (each undo works once), so an embedded database and a test fixture can hold
    it at the same time.
    """
    global _installs, _original, _original_update_item, _original_project, _original_parse
    import moto
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item

    with _install_lock:
        if _installs == 0:
            if moto.__version__ != MOTO_VERSION:
                log.warning(
                    "moto %s: chatapp.motointernals was written for moto %s "
                    "(run tests/chatapp/test_motointernals.py)",
                    moto.__version__,
                    MOTO_VERSION,
                )
            _original = []
            _original_update_item = DynamoDBBackend.__dict__["update_item"]
            _original_project = Item.__dict__["project"]
            _original_parse = ConditionExpressionParser.__dict__["parse"]
            for owner, name, replacement in _patches():
                _original.append((owner, name, vars(owner).get(name, _ABSENT)))
                setattr(owner, name, replacement)
        _installs += 1
    undone = threading.Event()

    def uninstall() -> None:
        global _installs
        with _install_lock:
            if undone.is_set():
                return
            undone.set()
            _installs -= 1
            if _installs == 0:
                for owner, name, original in _original:
                    if original is _ABSENT:  # inherited: moto's base class answers again
                        delattr(owner, name)
                    else:
                        setattr(owner, name, original)

    return uninstall


def installed() -> bool:
    """Whether the TransactWriteItems fix is in effect now."""
    from moto.dynamodb.models import DynamoDBBackend

    return DynamoDBBackend.__dict__["transact_write_items"] is transact_write_items


# -- per-call costs ----------------------------------------------------------------------
# What moto spends on every call besides the operation itself (profiled on the
# send path: about half of each call's CPU): it lists its handler class's
# methods with inspect, walks the botocore output shape of every answer, and
# makes a 52-character request id one random choice at a time, then runs an
# XML regex over a JSON body.

# The DynamoDB (Streams) answers whose moto result is already DynamoDB's JSON (dicts,
# lists, strings, numbers, booleans; a stream record's time is a datetime, which the
# JSON protocol writes as epoch seconds): json.dumps gives what the shape walk gives.
_PLAIN_JSON_ACTIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
    "BatchWriteItem", "TransactWriteItems", "TransactGetItems", "GetRecords", "GetShardIterator",
})
_DYNAMODB_JSON = "application/x-amz-json-1.0"


@functools.cache
def _method_names(clazz: type) -> frozenset[str]:
    return frozenset(name for name, value in inspect.getmembers(clazz, inspect.isfunction))


def method_names_from_class(clazz: Any) -> frozenset[str]:
    """moto.core.utils.method_names_from_class, listed once per class instead of every call."""
    return _method_names(clazz)


class _NotPlain(Exception):
    pass


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):  # as moto's JSON serializer writes a timestamp
        from moto.core.serialize import TimestampSerializer

        return TimestampSerializer._timestamp_unixtimestamp(value)
    # None, bytes and model objects need the shape: the slow path.
    raise _NotPlain


def serialized(self: Any, action_result: Any) -> tuple[int, dict[str, Any], str | bytes]:
    """The handlers' `serialized`: json.dumps for plain results of the hot actions.

    Anything else (errors, other actions, a result holding None, a datetime,
    bytes or an object) goes through moto's own serializer, as before.
    """
    from moto.core.responses import BaseResponse

    result, action = action_result.result, self._get_action()
    if isinstance(result, dict) and action in _PLAIN_JSON_ACTIONS:
        members = _output_members(self.boto3_service_name, action)
        if not members.issuperset(result):  # what the shape has no member for is left out
            result = {name: value for name, value in result.items() if name in members}
        try:
            body = json.dumps(result, default=_plain, check_circular=False)
        except _NotPlain:
            pass
        else:
            if "null" not in body or not _holds_none(result):
                return 200, {"Content-Type": _DYNAMODB_JSON, **self.response_headers}, body
    return BaseResponse.serialized(self, action_result)


def parse_parameters(self: Any, request: Any) -> None:
    """DynamoHandler.parse_parameters: json.loads for the hot actions' bodies without blobs.

    moto parses a request by walking the botocore input shape; a DynamoDB JSON
    body is already what that walk makes (plain dicts), except binary values
    (`B`, `BS`: base64 → bytes), which go the shape's way.
    """
    from moto.core.responses import BaseResponse

    body = self.body
    if (
        isinstance(body, str) and self._get_action() in _PLAIN_JSON_ACTIONS
        and '"B"' not in body and '"BS"' not in body
    ):
        self.params = json.loads(body or "{}")
        return
    BaseResponse.parse_parameters(self, request)


@functools.cache
def _output_members(service: str, action: str) -> frozenset[str]:
    """The top-level members of an operation's output shape."""
    from moto.core.responses import get_service_model

    shape = get_service_model(service).operation_model(action).output_shape
    return frozenset(shape.members) if shape is not None else frozenset()


def _holds_none(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_holds_none(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_none(item) for item in value)
    return False


def enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    """BaseResponse._enrich_response for JSON answers: a request id, no XML to rewrite."""
    if "status" in headers:
        headers["status"] = str(headers["status"])
    headers["x-amzn-requestid"] = secrets.token_hex(26)
    return headers, body


# -- serving ----------------------------------------------------------------------------


def backend_app() -> Any:
    """moto's own WSGI app for every service (what `moto_server` serves)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


def _handler(target_prefix: str) -> Any:
    import importlib

    module, _, name = SERVICE_HANDLERS[target_prefix].partition(":")
    return getattr(importlib.import_module(module), name)


def route_directly(environ: dict, start_response: Callable) -> list[bytes] | None:
    """Answer a DynamoDB (Streams) call with moto's handler; None for other services.

    moto's server finds the service by matching the Host header against every
    moto module and then routes through Flask: about half of each call's time.
    The target header already names the service; this is what moto's Flask
    view (convert_to_flask_response) does with it.
    """
    prefix = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")[0]
    if prefix not in SERVICE_HANDLERS:
        return None
    from botocore.exceptions import ClientError
    from werkzeug.wrappers import Request

    request = Request(environ)
    try:
        result = _handler(prefix).dispatch(request, request.url, dict(request.headers))
    except ClientError as error:
        result = 400, {}, error.response["Error"]["Message"]
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    body = content.encode() if isinstance(content, str) else (content or b"")
    header_list = [
        (name, str(value))
        for name, value in headers.items()
        if name.lower() not in ("status", "content-length")
    ]
    header_list.append(("Content-Length", str(len(body))))
    code = int(status)
    start_response(f"{code} {HTTPStatus(code).phrase}", header_list)
    return [body]


# -- reading and trimming moto's memory (callers hold requests off) ---------------------


def _backends() -> Iterator[Any]:
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    for backends in (dynamodb_backends, dynamodbstreams_backends):
        for account in list(backends.values()):
            yield from list(dict.values(account))  # type: ignore[arg-type]  # BackendDict per region


def table_items(names: Collection[str]) -> dict[str, list]:
    """Every item of the named tables in DynamoDB JSON, read from moto's memory."""
    items: dict[str, list] = {}
    for backend in _backends():
        for name, table in list(getattr(backend, "tables", {}).items()):
            if name in names:
                items[name] = [item.to_json()["Attributes"] for item in table.all_items()]
    return items


def expire_iterators(previous: set[str]) -> set[str]:
    """Drop the shard iterators that already existed at the previous sweep; returns the rest."""
    current: set[str] = set()
    for backend in _backends():
        iterators = getattr(backend, "shard_iterators", None)
        if iterators is None:
            continue
        for key in previous.intersection(iterators):
            del iterators[key]
        current.update(iterators)
    return current


def trim_streams(retention_seconds: float) -> int:
    """Drop stream records older than the retention; sequence numbers stay valid."""
    cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=retention_seconds)
    trimmed = 0
    for backend in _backends():
        for table in list(getattr(backend, "tables", {}).values()):
            shard = getattr(table, "stream_shard", None)
            if shard is None:
                continue
            old = 0
            for record in shard.items:
                if record.record["dynamodb"]["ApproximateCreationDateTime"] >= cutoff:
                    break
                old += 1
            if old:
                # moto numbers records len(items) + starting_sequence_number.
                del shard.items[:old]
                shard.starting_sequence_number += old
                trimmed += old
    return trimmed


def forget_tracked_instances() -> None:
    """Empty moto's dashboard lists of every model instance (the tables keep theirs)."""
    from moto.core.model_instances import reset_model_data

    reset_model_data()


def stream_record_count() -> int:
    """Stream records moto holds now, all tables (what trim_streams bounds)."""
    return sum(
        len(table.stream_shard.items)
        for backend in _backends()
        for table in list(getattr(backend, "tables", {}).values())
        if getattr(table, "stream_shard", None) is not None
    )
