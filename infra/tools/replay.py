"""Re-drive what the on-failure destinations kept: `python -m infra.tools replay`.

Two kinds of messages wait in the queues (infra/delivery.tf):

- A stream batch a mapping gave up on (Lambda's on-failure record for DynamoDB
  Streams): no records, only where they are (`DDBStreamBatchInfo`: stream,
  shard, first and last sequence numbers). The records are read back from the
  stream (it keeps them 24 hours) and the function is invoked with them, as
  the mapping would. A message is never stored in the queue, so a delete
  made meanwhile is not undone by keeping its text: the fan-out sends what
  the stream says, and the client applies the delete that follows it.
- A big-room page whose asynchronous invocation failed (`requestPayload`):
  connection ids and message keys; invoked again as it was.

Each queue message is deleted once its invocation succeeded (for a stream
batch: no function error and no batchItemFailures), so a replay delivers it
once; what failed again stays for the next run. `--dry-run` reads and reports
only (the messages stay visible).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

VISIBILITY_SECONDS = 120  # a replayed invocation's time to finish before another run sees it


@dataclass
class Report:
    found: int = 0
    replayed: int = 0
    expired: int = 0  # stream records already trimmed (older than 24 hours)
    kept: int = 0  # failed again, or could not be read: left in the queue
    lines: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return "\n".join([*self.lines, (
            f"{self.found} found, {self.replayed} replayed, {self.expired} expired,"
            f" {self.kept} kept for the next run"
        )])


def queue_url(sqs: Any, queue_arn: str) -> str:
    """The URL of a queue given by ARN (arn:aws:sqs:region:account:name)."""
    _, _, _, _, account, name = queue_arn.split(":", 5)
    return sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def replay_queues(
    sqs: Any, streams: Any, lambda_client: Any, urls: list[str], dry_run: bool = False
) -> Report:
    """Replay every message of these queues once; what happened."""
    report = Report()
    for url in urls:
        seen: set[str] = set()
        while True:
            # A dry run leaves every message visible (it only looks).
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                VisibilityTimeout=0 if dry_run else VISIBILITY_SECONDS,
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message["MessageId"])
                report.found += 1
                outcome = _replay_one(streams, lambda_client, json.loads(message["Body"]), dry_run)
                report.lines.append(f"{url.rsplit('/', 1)[-1]} {message['MessageId']}: {outcome}")
                if dry_run:
                    continue
                if outcome.startswith("kept"):
                    report.kept += 1
                    continue
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                if outcome == "expired":
                    report.expired += 1
                else:
                    report.replayed += 1
    return report


def _replay_one(streams: Any, lambda_client: Any, body: dict[str, Any], dry_run: bool) -> str:
    function = body.get("requestContext", {}).get("functionArn", "")
    if "DDBStreamBatchInfo" in body:
        info = body["DDBStreamBatchInfo"]
        try:
            records = stream_records(streams, info)
        except streams.exceptions.TrimmedDataAccessException:
            records = []
        if not records:
            return "expired"
        if dry_run:
            return f"would invoke {function} with {len(records)} stream records"
        answer = _invoke(lambda_client, function, {"Records": records})
        failed = answer is None or (isinstance(answer, dict) and answer.get("batchItemFailures"))
        return "kept: failed again" if failed else "replayed"
    if "requestPayload" in body:
        if dry_run:
            return f"would invoke {function} with its page again"
        answer = _invoke(lambda_client, function, body["requestPayload"])
        return "kept: failed again" if answer is None else "replayed"
    return "kept: not an on-failure record"


def stream_records(streams: Any, info: dict[str, Any]) -> list[dict[str, Any]]:
    """The records an on-failure record points at, shaped as Lambda hands them over."""
    arn, end = info["streamArn"], int(info["endSequenceNumber"])
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=info["shardId"], ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=info["startSequenceNumber"],
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    while iterator:
        answer = streams.get_records(ShardIterator=iterator, Limit=100)
        batch = answer["Records"]
        records += [r for r in batch if int(r["dynamodb"]["SequenceNumber"]) <= end]
        if not batch or int(batch[-1]["dynamodb"]["SequenceNumber"]) >= end:
            break
        iterator = answer.get("NextShardIterator")
    # The shape Lambda hands a function: the same code as the local event source mapping.
    from chatapp.streams import lambda_record

    region = arn.split(":")[3]
    return [lambda_record(record, arn, region) for record in records]


def _invoke(lambda_client: Any, function: str, payload: dict[str, Any]) -> Any:
    """A synchronous Invoke; the function's answer ({} for none), or None when it raised."""
    answer = lambda_client.invoke(
        FunctionName=function, InvocationType="RequestResponse",
        Payload=json.dumps(payload, default=str).encode(),
    )
    if answer.get("FunctionError"):
        return None
    raw = answer["Payload"].read()
    return (json.loads(raw) if raw else None) or {}
