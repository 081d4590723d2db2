"""What a `chalice deploy` that failed half-way left behind.

Chalice writes .chalice/deployed/<stage>.json only after a complete deploy, so
`chalice delete` cannot see the roles, Lambdas and stream subscriptions of one
that failed (an API Gateway error, a lost connection). They are found by the
tag Chalice puts on every function and by Chalice's role names.
"""

from __future__ import annotations

from typing import Any

APP_NAME = "chalice-chat"


def _chalice_tag_matches(tags: dict[str, str], stage: str) -> bool:
    # Chalice tags each function "aws-chalice": "version=1.34.0:stage=dev:app=chalice-chat".
    fields = dict(
        part.split("=", 1) for part in tags.get("aws-chalice", "").split(":") if "=" in part
    )
    return fields.get("stage") == stage and fields.get("app") == APP_NAME


def _mappings_of(lambda_client: Any, function_arn: str) -> list[dict[str, Any]]:
    # Filtered here rather than with FunctionName=, which emulators do not all honour.
    return [
        mapping
        for page in lambda_client.get_paginator("list_event_source_mappings").paginate()
        for mapping in page["EventSourceMappings"]
        if mapping["FunctionArn"].split(":")[:7] == function_arn.split(":")[:7]
    ]


def remove(lambda_client: Any, iam_client: Any, stage: str) -> list[str]:
    """Delete the stage's Chalice functions, their mappings and roles; what it deleted."""
    removed: list[str] = []
    prefix = f"{APP_NAME}-{stage}"
    for page in lambda_client.get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            name = function["FunctionName"]
            if name != prefix and not name.startswith(f"{prefix}-"):
                continue
            tags = lambda_client.list_tags(Resource=function["FunctionArn"]).get("Tags", {})
            if not _chalice_tag_matches(tags, stage):
                continue
            for mapping in _mappings_of(lambda_client, function["FunctionArn"]):
                lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])
                removed.append(f"event source mapping {mapping['UUID']}")
            lambda_client.delete_function(FunctionName=name)
            removed.append(f"function {name}")
    for page in iam_client.get_paginator("list_roles").paginate():
        for role in page["Roles"]:
            name = role["RoleName"]
            if name != prefix and not name.startswith(f"{prefix}-"):
                continue
            for policy in iam_client.list_role_policies(RoleName=name)["PolicyNames"]:
                iam_client.delete_role_policy(RoleName=name, PolicyName=policy)
            for attached in iam_client.list_attached_role_policies(RoleName=name)[
                "AttachedPolicies"
            ]:
                iam_client.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
            iam_client.delete_role(RoleName=name)
            removed.append(f"role {name}")
    return removed
