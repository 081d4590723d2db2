"""Settings Chalice cannot give a stream's event source mapping.

Chalice creates the DynamoDB stream mapping of each `on_dynamodb_record` handler
but never sets FunctionResponseTypes, so the handler's batchItemFailures would be
ignored and a single bad record would make Lambda retry the whole batch (re-sending
every message in it) until the records expire. These settings make a failure
cost one record, a bounded number of times; what Lambda then gives up on goes
to the mapping's on-failure destination (infra/delivery.tf's queue for that
function: a pointer into the stream, which `python -m infra.tools replay`
re-drives), never nowhere.
"""

from __future__ import annotations

import sys
from typing import Any

WANTED: dict[str, Any] = {
    "FunctionResponseTypes": ["ReportBatchItemFailures"],
    # Split a failing batch to isolate the bad record instead of re-sending good ones.
    "BisectBatchOnFunctionError": True,
    "MaximumRetryAttempts": 5,
    # A chat message an hour late is better fetched from history than pushed live.
    "MaximumRecordAgeInSeconds": 3600,
}


def wanted(on_failure_arn: str | None = None) -> dict[str, Any]:
    """WANTED, with the on-failure destination when there is one."""
    if not on_failure_arn:
        return dict(WANTED)
    return {**WANTED, "DestinationConfig": {"OnFailure": {"Destination": on_failure_arn}}}


def configure(
    lambda_client: Any, function_name: str, stream_arn: str, on_failure_arn: str | None = None
) -> list[str]:
    """Apply wanted() to the function's mappings of that stream; the UUIDs it changed."""
    settings = wanted(on_failure_arn)
    # By ARN: Chalice registers the mapping with the function's ARN, and some
    # emulators match FunctionName= literally; AWS accepts either.
    function_arn = lambda_client.get_function_configuration(FunctionName=function_name)[
        "FunctionArn"
    ]
    mappings = lambda_client.list_event_source_mappings(
        FunctionName=function_arn, EventSourceArn=stream_arn
    )["EventSourceMappings"]
    if not mappings:
        raise LookupError(
            f"{function_name} has no event source mapping for {stream_arn}: "
            "did chalice deploy run with this stream's ARN in its environment?"
        )
    if len(mappings) > 1:
        # A chalice deploy that failed half-way and ran again subscribes twice:
        # every message would then be delivered twice.
        uuids = " ".join(m["UUID"] for m in mappings)
        print(
            f"warning: {len(mappings)} mappings feed {function_name} from the same stream"
            f" ({uuids}); keep one: aws lambda delete-event-source-mapping --uuid UUID",
            file=sys.stderr,
        )
    changed = []
    for mapping in mappings:
        if all(mapping.get(key) == value for key, value in settings.items()):
            continue
        lambda_client.update_event_source_mapping(UUID=mapping["UUID"], **settings)
        changed.append(mapping["UUID"])
    return changed
