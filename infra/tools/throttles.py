"""Throttles Chalice cannot set: API stage limits and the REST function's reserved concurrency.

Every signup and login costs a cost-12 bcrypt, so an unthrottled REST API lets
anyone run up the bill and take the account's whole Lambda concurrency (which
$connect and the fan-out share). The stages get rate and burst limits, and the
REST function a reserved concurrency that also caps it.
"""

from __future__ import annotations

from typing import Any


def available_concurrency(lambda_client: Any, function_name: str) -> int:
    """What the account could reserve for the function: unreserved plus its own reservation.

    infra/ reserves api_reserved_concurrency only when this minus it leaves the
    100 that AWS keeps unreserved (new accounts may have a quota of 10).
    """
    unreserved = lambda_client.get_account_settings()["AccountLimit"][
        "UnreservedConcurrentExecutions"
    ]
    try:
        current = lambda_client.get_function_concurrency(FunctionName=function_name)
    except lambda_client.exceptions.ResourceNotFoundException:
        return unreserved  # first deploy: the function does not exist yet
    return unreserved + (current.get("ReservedConcurrentExecutions") or 0)


def rest_stage(apigateway: Any, rest_api_id: str, stage: str, rate: float, burst: int) -> bool:
    """Set the REST stage's default method throttling; True when it changed."""
    current = apigateway.get_stage(restApiId=rest_api_id, stageName=stage)
    settings = current.get("methodSettings", {}).get("*/*", {})
    if (settings.get("throttlingRateLimit"), settings.get("throttlingBurstLimit")) == (rate, burst):
        return False
    apigateway.update_stage(
        restApiId=rest_api_id,
        stageName=stage,
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": str(rate)},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": str(burst)},
        ],
    )
    return True


def rest_stage_arn(region: str, rest_api_id: str, stage: str) -> str:
    """The ARN AWS WAF names a REST API stage by."""
    return f"arn:aws:apigateway:{region}::/restapis/{rest_api_id}/stages/{stage}"


def rest_web_acl(wafv2: Any, web_acl_arn: str, stage_arn: str) -> bool:
    """Put the REST stage behind the web ACL (per-source-IP rate limits); True when it changed."""
    try:
        current = wafv2.get_web_acl_for_resource(ResourceArn=stage_arn).get("WebACL") or {}
    except wafv2.exceptions.WAFNonexistentItemException:
        current = {}
    if current.get("ARN") == web_acl_arn:
        return False
    wafv2.associate_web_acl(WebACLArn=web_acl_arn, ResourceArn=stage_arn)
    return True


def websocket_stage(
    apigatewayv2: Any, websocket_api_id: str, stage: str, rate: float, burst: int
) -> bool:
    """Set the WebSocket stage's default route throttling; True when it changed."""
    current = apigatewayv2.get_stage(ApiId=websocket_api_id, StageName=stage)
    settings = current.get("DefaultRouteSettings", {})
    if (settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")) == (rate, burst):
        return False
    apigatewayv2.update_stage(
        ApiId=websocket_api_id,
        StageName=stage,
        DefaultRouteSettings={"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst},
    )
    return True
