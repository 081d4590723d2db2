"""The app's other Lambda functions: their deployed names, and asynchronous invokes of them.

Chalice deploys the REST function (`api_handler`, every route) as
`{app}-{stage}` and every other function as `{app}-{stage}-{python name}`;
locally (chatapp, chalice.test) each goes by its Python name, and chatapp's
Invoke finds a function by either. A function that knows its own deployed name
(its Lambda context's, or AWS_LAMBDA_FUNCTION_NAME) derives its siblings' from it.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib import aws, lazy

REST_FUNCTION = "api_handler"
DELIVERY_FUNCTION = "deliver_to_connections"


@lazy.cached()
def _lambda() -> Any:
    """The Lambda client that hands work to another function."""
    return aws.session().client("lambda")


def sibling_function(function_name: str, python_name: str, own_name: str = "") -> str:
    """The deployed name of this app and stage's function `python_name`.

    `function_name` is the running function's deployed name and `own_name` its
    Python name. Without `own_name` the running function is taken to be one
    deployed with a suffix (never the REST function: it must say so).
    """
    if own_name == REST_FUNCTION:
        prefix = "" if function_name == REST_FUNCTION else function_name
    elif own_name and function_name.endswith(own_name):
        prefix = function_name.removesuffix(own_name).removesuffix("-")
    else:
        prefix = function_name.rpartition("-")[0]
    if not prefix:
        return python_name  # local: functions go by their Python names
    return prefix if python_name == REST_FUNCTION else f"{prefix}-{python_name}"


def invoke_async(function: str, event: dict[str, Any]) -> None:
    """Invoke `function` asynchronously with `event` (InvocationType Event).

    Lambda answers 202 at once, retries a failing invocation twice and then
    hands the event to the function's on-failure destination (infra/delivery.tf).
    """
    payload = json.dumps(event, ensure_ascii=False).encode()
    _lambda().invoke(FunctionName=function, InvocationType="Event", Payload=payload)
