"""One Terraform configuration for everything: infra/ plus `chalice package` output.

`chalice package --pkg-format terraform` (1.34) pins Terraform < 1.4 and AWS
provider < 5 and wants the `null` provider (aws/chalice #2066). This module
packages the app with sentinel values in place of everything infra/ creates,
then rewrites the package: the version pins and the null data source go, each
sentinel becomes a reference to the infra/ resource, and an override file adds
what Chalice cannot express (every stream mapping's ReportBatchItemFailures, the
API stages' throttles, the REST function's reserved concurrency).
The result lives in infra/combined/<stage>/ next to its own state.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import delivery, event_source, stage_config
from .stage_config import ROOT, StageValues

INFRA = ROOT / "infra"
# What Chalice deploys (docs/DESIGN.md, "Facts checked"); the package is built from a copy.
APP_FILES = ("app.py", "requirements.txt", "chalicelib", "vendor")


def references(values: StageValues) -> dict[str, str]:
    """Sentinel text → the Terraform expression that replaces it."""
    refs = {
        values.account_id: "${data.aws_caller_identity.current.account_id}",
        values.region: "${var.region}",
        values.partition: "${data.aws_partition.current.partition}",
        values.site_origin: "https://${local.site_host}",
        values.jwt_secret_parameter: "${aws_ssm_parameter.jwt_secret.name}",
        values.websocket_api_id: "${aws_apigatewayv2_api.websocket_api.id}",
    }
    for logical, name in values.table_names.items():
        refs[name] = f'${{aws_dynamodb_table.table["{logical}"].name}}'
    for logical, arn in values.stream_arns.items():
        refs[arn] = f'${{aws_dynamodb_table.table["{logical}"].stream_arn}}'
    return refs


def stream_mapping(function: str) -> str:
    """The name Chalice's Terraform package gives a function's stream mapping."""
    return f"{function}-dynamodb-event-source"


def sentinels(stage: str) -> StageValues:
    """StageValues whose every infra-derived field is a unique, greppable marker."""
    return StageValues(
        stage=stage,
        region="SENTINEL-REGION",
        account_id="SENTINEL-ACCOUNT",
        partition="SENTINEL-PARTITION",
        table_names={logical: f"SENTINEL-TABLE-{logical}" for logical in stage_config.TABLES},
        stream_arns={
            logical: f"SENTINEL-STREAM-ARN-{logical}" for logical in stage_config.STREAM_TABLES
        },
        jwt_secret_parameter="SENTINEL-JWT-SECRET-PARAMETER",
        site_origin="SENTINEL-SITE-ORIGIN",
        websocket_api_id="SENTINEL-WEBSOCKET-API-ID",
    )


def _replace(node: Any, refs: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _replace(value, refs) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace(value, refs) for value in node]
    if isinstance(node, str):
        # Longest first: a table name may contain no other sentinel, but be safe.
        for sentinel in sorted(refs, key=len, reverse=True):
            node = node.replace(sentinel, refs[sentinel])
    return node


def post_process(package: dict[str, Any], values: StageValues) -> dict[str, Any]:
    """Make chalice's Terraform JSON fit Terraform >= 1.4 / AWS 5 and infra/'s resources."""
    package = dict(package)
    package.pop("terraform", None)  # infra/versions.tf states the versions
    data = dict(package.get("data", {}))
    data.pop("null_data_source", None)  # only labelled the package; needs the null provider
    package["data"] = data
    _rest_api_stage_resource(package)
    _tracing(package)
    package = _replace(package, references(values))
    text = json.dumps(package)
    leftover = [sentinel for sentinel in references(values) if sentinel in text]
    if leftover:
        raise ValueError(f"sentinels left in the package: {leftover}")
    return package


def _tracing(package: dict[str, Any]) -> None:
    """X-Ray as infra's `xray_tracing` says: each function's tracing mode and TRACING.

    (Their X-Ray grant is in additions(): a role policy only when it is on.)
    """
    for function in package.get("resource", {}).get("aws_lambda_function", {}).values():
        function["tracing_config"] = {
            "mode": '${var.xray_tracing ? "Active" : "PassThrough"}'
        }
        variables = function.setdefault("environment", {}).setdefault("variables", {})
        variables["TRACING"] = '${var.xray_tracing ? "on" : "off"}'


def _rest_api_stage_resource(package: dict[str, Any]) -> None:
    """Move the REST API stage out of aws_api_gateway_deployment (deprecated in provider 5).

    A new deployment is still made whenever the Swagger body changes, through
    `triggers` instead of the old stage_description trick.
    """
    resources = package.setdefault("resource", {})
    deployment = resources.get("aws_api_gateway_deployment", {}).get("rest_api")
    if deployment is None:
        return
    stage_name = deployment.pop("stage_name")
    deployment.pop("stage_description", None)
    deployment["triggers"] = {"redeployment": "${md5(local.chalice_api_swagger)}"}
    resources["aws_api_gateway_stage"] = {
        "rest_api": {
            "rest_api_id": "${aws_api_gateway_rest_api.rest_api.id}",
            "deployment_id": "${aws_api_gateway_deployment.rest_api.id}",
            "stage_name": stage_name,
        }
    }
    package["output"]["EndpointURL"] = {"value": "${aws_api_gateway_stage.rest_api.invoke_url}"}


def override(package: dict[str, Any]) -> dict[str, Any]:
    """What Chalice cannot express, as a Terraform override of its package."""
    wanted = event_source.WANTED
    resources = package.get("resource", {})
    mappings = {
        stream_mapping(function): {
            "function_response_types": wanted["FunctionResponseTypes"],
            "bisect_batch_on_function_error": wanted["BisectBatchOnFunctionError"],
            "maximum_retry_attempts": wanted["MaximumRetryAttempts"],
            "maximum_record_age_in_seconds": wanted["MaximumRecordAgeInSeconds"],
            # infra/delivery.tf's queue for this function keeps what Lambda gives up on.
            "destination_config": {"on_failure": {
                "destination_arn": f'${{aws_sqs_queue.failed_stream_batches["{function}"].arn}}'
            }},
        }
        for function in stage_config.stream_sources()
        if stream_mapping(function) in resources.get("aws_lambda_event_source_mapping", {})
    }
    return {
        "resource": {
            "aws_lambda_event_source_mapping": mappings,
            "aws_apigatewayv2_stage": {
                "websocket_api_stage": {
                    "default_route_settings": {
                        "throttling_rate_limit": "${var.websocket_throttle_rate_limit}",
                        "throttling_burst_limit": "${var.websocket_throttle_burst_limit}",
                    }
                }
            },
            "aws_lambda_function": {
                stage_config.REST_FUNCTION: {
                    "reserved_concurrent_executions": "${local.api_reserved_concurrent_executions}"
                }
            },
        }
    }


def additions(package: dict[str, Any]) -> dict[str, Any]:
    """Resources the package lacks: the REST stage's throttling, the delivery
    function's on-failure destination."""
    resources = package.get("resource", {})
    functions = resources.get("aws_lambda_function", {})
    # infra/delivery.tf's queue keeps the delivery function's failed async invocations.
    invoke_configs = {
        name: {
            "function_name": f"${{aws_lambda_function.{name}.function_name}}",
            "maximum_retry_attempts": delivery.MAXIMUM_RETRY_ATTEMPTS,
            "maximum_event_age_in_seconds": delivery.MAXIMUM_EVENT_AGE_SECONDS,
            "destination_config": {
                "on_failure": {"destination": "${aws_sqs_queue.failed_deliveries.arn}"}
            },
        }
        for name in functions
        if stage_config.PERMISSIONS.get(name, {}).get("on_failure_queue")
        and name not in stage_config.stream_sources()  # theirs is on the stream mapping
    }
    return {
        "resource": {
            "aws_api_gateway_method_settings": {
                "rest_api_throttle": {
                    "rest_api_id": "${aws_api_gateway_rest_api.rest_api.id}",
                    "stage_name": "${aws_api_gateway_stage.rest_api.stage_name}",
                    "method_path": "*/*",
                    "settings": {
                        "throttling_rate_limit": "${var.rest_throttle_rate_limit}",
                        "throttling_burst_limit": "${var.rest_throttle_burst_limit}",
                    },
                }
            },
            "aws_lambda_function_event_invoke_config": invoke_configs,
            # Lambda's active tracing sends segments with the function's role.
            "aws_iam_role_policy": {
                f"{role}_xray": {
                    "count": "${var.xray_tracing ? 1 : 0}",
                    "name": "xray",
                    "role": f"${{aws_iam_role.{role}.id}}",
                    "policy": json.dumps({
                        "Version": "2012-10-17", "Statement": [stage_config.XRAY_STATEMENT]
                    }),
                }
                for role in resources.get("aws_iam_role", {})
            },
            # Per-source-IP rate limits (infra/waf.tf) on the REST stage.
            "aws_wafv2_web_acl_association": {
                "rest_api": {
                    "resource_arn": "${aws_api_gateway_stage.rest_api.arn}",
                    "web_acl_arn": "${aws_wafv2_web_acl.rest.arn}",
                }
            },
        }
    }


def chalice_package(stage: str, values: StageValues, out: Path) -> dict[str, Any]:
    """Run `chalice package` on a copy of the app whose stage config holds `values`."""
    with tempfile.TemporaryDirectory(prefix="chalice-package-") as tmp:
        project = Path(tmp)
        for name in APP_FILES:
            source = ROOT / name
            if source.is_dir():
                skip = shutil.ignore_patterns("__pycache__")
                shutil.copytree(source, project / name, ignore=skip)
            elif source.exists():
                shutil.copy2(source, project / name)
        (project / ".chalice").mkdir()
        shutil.copy2(ROOT / ".chalice" / "config.json", project / ".chalice" / "config.json")
        # Reuse the dependency cache of earlier packages/deploys (bcrypt wheels).
        deployments = ROOT / ".chalice" / "deployments"
        deployments.mkdir(exist_ok=True)
        (project / ".chalice" / "deployments").symlink_to(deployments)
        stage_config.write(values, project / ".chalice")
        # Stream ARNs are read when the Chalice CLI imports app.py, not from config.json.
        env = dict(os.environ, **stage_config.stream_environment(values))
        env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        # Chalice's CLI with compiled bytecode in deployment.zip (packaging.py).
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        subprocess.run(
            [sys.executable, "-m", "infra.tools.packaging", "package", "--pkg-format",
             "terraform", "--stage", stage, str(out)],
            cwd=project,
            env=env,
            check=True,
        )
    return json.loads((out / "chalice.tf.json").read_text())


def build(stage: str, region: str, target: Path | None = None) -> Path:
    """Write infra/combined/<stage>/ (keeping its state); returns the directory."""
    target = target or INFRA / "combined" / stage
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.tf*"):
        if old.suffix in (".tf", ".json") and not old.name.startswith("terraform.tfstate"):
            old.unlink()
    for source in sorted(INFRA.glob("*.tf")):
        shutil.copy2(source, target / source.name)
    values = sentinels(stage)
    with tempfile.TemporaryDirectory(prefix="chalice-out-") as out:
        package = chalice_package(stage, values, Path(out))
        shutil.copy2(Path(out) / "deployment.zip", target / "deployment.zip")
    (target / "chalice.tf.json").write_text(stage_config.dumps(post_process(package, values)))
    (target / "chalice_override.tf.json").write_text(stage_config.dumps(override(package)))
    (target / "additions.tf.json").write_text(stage_config.dumps(additions(package)))
    tfvars = {
        "stage": stage,
        "region": region,
        "tables_file": os.path.relpath(ROOT / "chalicelib" / "tables.json", target),
        "permissions_file": os.path.relpath(stage_config.CHALICE_DIR / "permissions.json", target),
    }
    (target / "terraform.tfvars.json").write_text(stage_config.dumps(tfvars))
    return target
