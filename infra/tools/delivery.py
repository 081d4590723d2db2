"""What Chalice cannot set on the delivery function: its asynchronous-invocation settings.

on_new_messages hands each page of a big room to deliver_to_connections with an
asynchronous Invoke. Lambda retries a failed one twice; after that the event
goes to the on-failure destination (infra/delivery.tf's queue) instead of
being dropped. Stale pages are not worth delivering late: clients catch up
with getMessages.
"""

from __future__ import annotations

from typing import Any

MAXIMUM_RETRY_ATTEMPTS = 2
MAXIMUM_EVENT_AGE_SECONDS = 3600


def configure(lambda_client: Any, function_name: str, queue_arn: str) -> bool:
    """Point the function's failed async invocations at the queue; True when it changed."""
    wanted = {
        "MaximumRetryAttempts": MAXIMUM_RETRY_ATTEMPTS,
        "MaximumEventAgeInSeconds": MAXIMUM_EVENT_AGE_SECONDS,
        "DestinationConfig": {"OnFailure": {"Destination": queue_arn}},
    }
    try:
        current = lambda_client.get_function_event_invoke_config(FunctionName=function_name)
    except lambda_client.exceptions.ResourceNotFoundException:
        current = {}
    if all(current.get(key) == value for key, value in wanted.items()):
        return False
    lambda_client.put_function_event_invoke_config(FunctionName=function_name, **wanted)
    return True
