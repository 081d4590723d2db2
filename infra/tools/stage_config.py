"""Write a stage's environment and one least-privilege IAM policy per function into .chalice/.

`chalice deploy` reads only .chalice/config.json and the policy files it names, so
the values Terraform created (table names, streams, parameter, site origin) are
written there before every deploy. Each function's policy is generated from
.chalice/permissions.json, the one description of what each function calls.
Chalice resolves stage→function settings first, then stage, then function, so
the policy files go under stages.<stage>.lambda_functions.<function>. Everything
else in config.json (memory, timeouts, other stages) is left as committed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHALICE_DIR = ROOT / ".chalice"
TABLES: dict[str, dict[str, Any]] = {
    name: spec
    for name, spec in json.loads((ROOT / "chalicelib" / "tables.json").read_text()).items()
    if not name.startswith("_")
}
STREAM_TABLES = [logical for logical, spec in TABLES.items() if "stream_arn_env" in spec]
PERMISSIONS: dict[str, dict[str, Any]] = {
    name: spec
    for name, spec in json.loads((CHALICE_DIR / "permissions.json").read_text()).items()
    if not name.startswith("_")
}
APP_NAME = "chalice-chat"
REST_FUNCTION = "api_handler"  # Chalice names its Lambda "<app>-<stage>", without a suffix
WEBSOCKET_STAGE = "api"  # Chalice names both API stages after api_gateway_stage
# Stand-ins used in the committed config until deploy.sh writes a real account's values.
PLACEHOLDER_ACCOUNT = "000000000000"
PLACEHOLDER_STREAM_LABEL = "1970-01-01T00:00:00.000"


def lambda_name(stage: str, function: str) -> str:
    """The Lambda's name as Chalice deploys it."""
    base = f"{APP_NAME}-{stage}"
    return base if function == REST_FUNCTION else f"{base}-{function}"


def stream_sources() -> dict[str, str]:
    """Function → the table whose stream feeds it (from permissions.json)."""
    return {
        function: table
        for function, spec in PERMISSIONS.items()
        for table in spec.get("streams", [])
    }


@dataclass(frozen=True)
class StageValues:
    """What a stage's Lambdas must know about the infrastructure of infra/."""

    stage: str
    region: str
    account_id: str
    partition: str
    table_names: dict[str, str]
    stream_arns: dict[str, str]  # logical table → its stream's ARN
    jwt_secret_parameter: str
    site_origin: str
    websocket_api_id: str = ""
    # Reserved concurrency of the REST function; 0 leaves it unreserved.
    api_reserved_concurrency: int = 0
    # The Powertools layer (infra/monitoring.tf); empty: none (an emulator, the placeholder).
    powertools_layer_arn: str = ""
    # The handlers' EMF namespace (infra/monitoring.tf, which its alarms read); empty: the
    # placeholder's, f"{APP_NAME}/{stage}".
    metrics_namespace: str = ""
    # ADMIN_USERS (comma-separated); empty: the stage has no admins.
    admin_users: str = ""
    # X-Ray (infra's xray_tracing): active tracing, TRACING=on and the X-Ray grant.
    xray_tracing: bool = False

    @classmethod
    def from_terraform_outputs(
        cls,
        stage: str,
        outputs: dict[str, Any],
        websocket_api_id: str = "",
    ) -> StageValues:
        """Build from `terraform output -json` (each output is {"value": ...})."""
        try:
            value = {name: output["value"] for name, output in outputs.items()}
            return cls(
                stage=stage,
                region=value["region"],
                account_id=value["account_id"],
                partition=value["partition"],
                table_names=dict(value["table_names"]),
                stream_arns={logical: value["stream_arns"][logical] for logical in STREAM_TABLES},
                jwt_secret_parameter=value["jwt_secret_parameter"],
                site_origin=value["site_origin"],
                websocket_api_id=websocket_api_id,
                api_reserved_concurrency=int(value["throttles"]["api_reserved_concurrency"]),
                powertools_layer_arn=value.get("powertools_layer_arn", ""),
                metrics_namespace=value.get("metrics_namespace", ""),
                admin_users=",".join(value.get("admin_users") or []),
                xray_tracing=bool(value.get("xray_tracing", False)),
            )
        except (KeyError, TypeError) as missing:
            raise ValueError(
                f"Terraform outputs lack {missing}: was infra/ applied for stage {stage}?"
            ) from missing

    @classmethod
    def placeholder(cls, stage: str, region: str = "us-east-1") -> StageValues:
        """The values infra/ would produce in a stand-in account (for the committed config)."""
        names = {logical: f"{APP_NAME}-{stage}-{logical}" for logical in TABLES}
        return cls(
            stage=stage,
            region=region,
            account_id=PLACEHOLDER_ACCOUNT,
            partition="aws",
            table_names=names,
            stream_arns={
                logical: (
                    f"arn:aws:dynamodb:{region}:{PLACEHOLDER_ACCOUNT}:table/"
                    f"{names[logical]}/stream/{PLACEHOLDER_STREAM_LABEL}"
                )
                for logical in STREAM_TABLES
            },
            jwt_secret_parameter=f"/{APP_NAME}/{stage}/jwt-secret",
            # deploy.sh writes the distribution's https origin here.
            site_origin=f"https://{APP_NAME}-{stage}.cloudfront.net",
        )

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"

    def table_arn(self, logical: str) -> str:
        return self.arn("dynamodb", f"table/{self.table_names[logical]}")


def environment(values: StageValues) -> dict[str, str]:
    """The stage-wide environment variables (names from tables.json's name_env, stream_arn_env)."""
    env = {TABLES[logical]["name_env"]: name for logical, name in values.table_names.items()}
    env.update(stream_environment(values))
    env.update(CORS_ORIGIN=values.site_origin, WEBSOCKET_STAGE=WEBSOCKET_STAGE)
    # The handlers' EMF metrics (chalicelib/observability.py): one namespace per stage.
    env.update(METRICS_NAMESPACE=values.metrics_namespace or f"{APP_NAME}/{values.stage}")
    if values.admin_users:
        env["ADMIN_USERS"] = values.admin_users
    if values.xray_tracing:  # chalicelib/tracing.py: off unless on
        env["TRACING"] = "on"
    return dict(sorted(env.items()))


def stream_environment(values: StageValues) -> dict[str, str]:
    """Each stream's ARN under its stream_arn_env (Chalice reads them when importing app.py)."""
    return {TABLES[logical]["stream_arn_env"]: arn for logical, arn in values.stream_arns.items()}


def function_environment(values: StageValues, function: str) -> dict[str, str]:
    """Variables only this function gets: the secret's name, the WebSocket API id."""
    spec = PERMISSIONS[function]
    env: dict[str, str] = {}
    if spec.get("jwt_secret"):
        env["JWT_SECRET_PARAMETER"] = values.jwt_secret_parameter
    if spec.get("manage_connections"):
        env["WEBSOCKET_API_ID"] = values.websocket_api_id
    return env


def _sid(*parts: str) -> str:
    words = [word for part in parts for word in part.replace("-", "_").split("_")]
    return "".join(word[:1].upper() + word[1:] for word in words)


# What Lambda's active tracing sends traces with (AWSXRayDaemonWriteAccess's two
# write actions): X-Ray has no resource-level permissions, so "*" is the only resource.
XRAY_STATEMENT: dict[str, Any] = {
    "Sid": "XRay",
    "Effect": "Allow",
    "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
    "Resource": ["*"],
}


def policy(values: StageValues, function: str) -> dict[str, Any]:
    """The IAM policy of one function: exactly the calls permissions.json gives it."""
    spec = PERMISSIONS[function]
    statements: list[dict[str, Any]] = []
    for target, actions in spec.get("tables", {}).items():
        logical, _, index = target.partition("/")
        resource = values.table_arn(logical) + (f"/index/{index}" if index else "")
        statements.append(
            {
                "Sid": _sid(logical, index, "table" if not index else ""),
                "Effect": "Allow",
                "Action": [f"dynamodb:{action}" for action in actions],
                "Resource": [resource],
            }
        )
    for logical in spec.get("streams", []):
        statements += [
            {
                # What the event source mapping does with the function's role.
                "Sid": _sid(logical, "stream"),
                "Effect": "Allow",
                "Action": [
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                ],
                "Resource": [values.stream_arns[logical]],
            },
            {
                # ListStreams takes the table's stream path, never a single stream.
                "Sid": _sid(logical, "stream", "list"),
                "Effect": "Allow",
                "Action": ["dynamodb:ListStreams"],
                "Resource": [f"{values.table_arn(logical)}/stream/*"],
            },
        ]
    if spec.get("jwt_secret"):
        statements.append(
            {
                # SecureString under the AWS managed key aws/ssm: its key policy
                # already lets SSM decrypt for this account, so no kms: grant.
                "Sid": "JwtSecret",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter"],
                "Resource": [values.arn("ssm", f"parameter{values.jwt_secret_parameter}")],
            }
        )
    if spec.get("manage_connections"):
        # Until the first deploy the WebSocket API's id is unknown: any API of this
        # account and region, but only its connections on this stage.
        api = values.websocket_api_id or "*"
        statements.append(
            {
                "Sid": "ManageConnections",
                "Effect": "Allow",
                "Action": ["execute-api:ManageConnections"],
                "Resource": [
                    values.arn("execute-api", f"{api}/{WEBSOCKET_STAGE}/*/@connections/*")
                ],
            }
        )
    if spec.get("invoke"):
        statements.append(
            {
                "Sid": "Invoke",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [
                    values.arn("lambda", f"function:{lambda_name(values.stage, name)}")
                    for name in spec["invoke"]
                ],
            }
        )
    if spec.get("on_failure_queue"):
        statements.append(
            {
                # Lambda sends a failed asynchronous invocation there with this role.
                "Sid": "OnFailureQueue",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": [
                    values.arn("sqs", f"{APP_NAME}-{values.stage}-{spec['on_failure_queue']}")
                ],
            }
        )
    if values.xray_tracing:
        statements.append(XRAY_STATEMENT)
    # infra/logs.tf creates the log groups (with a retention), so no CreateLogGroup.
    statements.append(
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [
                values.arn("logs", f"log-group:/aws/lambda/{lambda_name(values.stage, function)}:*")
            ],
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}


def policy_file_name(stage: str, function: str) -> str:
    return f"policy-{stage}-{function}.json"


def render(config: dict[str, Any], values: StageValues) -> dict[str, Any]:
    """config.json with this stage's environment and per-function policies set (a new dict)."""
    config = json.loads(json.dumps(config))
    stage = config.setdefault("stages", {}).setdefault(values.stage, {})
    # A stage-level policy file would override every function's own (Chalice's order).
    stage.pop("iam_policy_file", None)
    stage["environment_variables"] = environment(values)
    if values.powertools_layer_arn:
        stage["layers"] = [values.powertools_layer_arn]
    else:
        stage.pop("layers", None)
    if values.xray_tracing:  # Chalice: active tracing on the functions and the REST stage
        stage["xray"] = True
    else:
        stage.pop("xray", None)
    functions = stage.setdefault("lambda_functions", {})
    for function in PERMISSIONS:
        settings = functions.setdefault(function, {})
        settings["iam_policy_file"] = policy_file_name(values.stage, function)
        env = function_environment(values, function)
        if env:
            settings["environment_variables"] = env
        else:
            settings.pop("environment_variables", None)
    rest = functions[REST_FUNCTION]
    if values.api_reserved_concurrency:
        rest["reserved_concurrency"] = values.api_reserved_concurrency
    else:
        rest.pop("reserved_concurrency", None)
    stage["lambda_functions"] = dict(sorted(functions.items()))
    return config


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def write(values: StageValues, chalice_dir: Path = CHALICE_DIR) -> bool:
    """Write config.json and the policy files for the stage; True when any changed."""
    config_path = chalice_dir / "config.json"
    wanted = {config_path: dumps(render(json.loads(config_path.read_text()), values))}
    for function in PERMISSIONS:
        path = chalice_dir / policy_file_name(values.stage, function)
        wanted[path] = dumps(policy(values, function))
    changed = False
    for path, text in wanted.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed = True
    return changed
