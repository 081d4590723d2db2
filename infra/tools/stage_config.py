"""Write a stage's environment and least-privilege IAM policy into .chalice/.

`chalice deploy` reads only .chalice/config.json and the policy file it names, so
the values Terraform created (table names, stream, parameter, site origin) are
written there before every deploy. Everything else in config.json (memory,
timeouts, other stages) is left as the repository has it.
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
APP_NAME = "chalice-chat"
WEBSOCKET_STAGE = "api"  # Chalice names both API stages after api_gateway_stage
STREAM_FUNCTION = "on_new_messages"
# Stand-ins used in the committed config until deploy.sh writes a real account's values.
PLACEHOLDER_ACCOUNT = "000000000000"
PLACEHOLDER_STREAM_LABEL = "1970-01-01T00:00:00.000"


@dataclass(frozen=True)
class StageValues:
    """What a stage's Lambdas must know about the infrastructure of infra/."""

    stage: str
    region: str
    account_id: str
    partition: str
    table_names: dict[str, str]
    messages_stream_arn: str
    jwt_secret_parameter: str
    site_origin: str
    websocket_api_id: str = ""

    @classmethod
    def from_terraform_outputs(
        cls, stage: str, outputs: dict[str, Any], websocket_api_id: str = ""
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
                messages_stream_arn=value["messages_stream_arn"],
                jwt_secret_parameter=value["jwt_secret_parameter"],
                site_origin=value["site_origin"],
                websocket_api_id=websocket_api_id,
            )
        except (KeyError, TypeError) as missing:
            raise ValueError(
                f"Terraform outputs lack {missing}: was infra/ applied for stage {stage}?"
            ) from missing

    @classmethod
    def placeholder(cls, stage: str, region: str = "us-east-1") -> StageValues:
        """The values infra/ would produce in a stand-in account (for the committed config)."""
        names = {logical: f"{APP_NAME}-{stage}-{logical}" for logical in TABLES}
        bucket = f"{APP_NAME}-{stage}-site-{PLACEHOLDER_ACCOUNT}-{region}"
        return cls(
            stage=stage,
            region=region,
            account_id=PLACEHOLDER_ACCOUNT,
            partition="aws",
            table_names=names,
            messages_stream_arn=(
                f"arn:aws:dynamodb:{region}:{PLACEHOLDER_ACCOUNT}:table/"
                f"{names['messages']}/stream/{PLACEHOLDER_STREAM_LABEL}"
            ),
            jwt_secret_parameter=f"/{APP_NAME}/{stage}/jwt-secret",
            site_origin=f"http://{bucket}.s3-website-{region}.amazonaws.com",
        )

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"


def environment(values: StageValues) -> dict[str, str]:
    """The stage-wide environment variables (names from tables.json's name_env)."""
    env = {TABLES[logical]["name_env"]: name for logical, name in values.table_names.items()}
    env.update(
        MESSAGES_STREAM_ARN=values.messages_stream_arn,
        JWT_SECRET_PARAMETER=values.jwt_secret_parameter,
        CORS_ORIGIN=values.site_origin,
        WEBSOCKET_STAGE=WEBSOCKET_STAGE,
    )
    return dict(sorted(env.items()))


def policy(values: StageValues) -> dict[str, Any]:
    """The one IAM policy of the stage's Lambdas: these tables, this stream, this parameter."""
    tables = [values.arn("dynamodb", f"table/{name}") for name in values.table_names.values()]
    indexes = [
        values.arn("dynamodb", f"table/{values.table_names[logical]}/index/{index['name']}")
        for logical, spec in TABLES.items()
        for index in spec.get("global_secondary_indexes", [])
    ]
    messages_table = values.arn("dynamodb", f"table/{values.table_names['messages']}")
    # Until the first deploy the WebSocket API's id is unknown: any API of this
    # account and region, but only its connections on this stage.
    api = values.websocket_api_id or "*"
    function_prefix = f"/aws/lambda/{APP_NAME}-{values.stage}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ChatTables",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:ConditionCheckItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:Query",
                ],
                "Resource": tables + indexes,
            },
            {
                "Sid": "MessagesStream",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                ],
                "Resource": [values.messages_stream_arn],
            },
            {
                # ListStreams takes the table's stream path, never a single stream.
                "Sid": "MessagesStreamList",
                "Effect": "Allow",
                "Action": ["dynamodb:ListStreams"],
                "Resource": [f"{messages_table}/stream/*"],
            },
            {
                "Sid": "PostToConnections",
                "Effect": "Allow",
                "Action": ["execute-api:ManageConnections"],
                "Resource": [
                    values.arn("execute-api", f"{api}/{WEBSOCKET_STAGE}/*/@connections/*")
                ],
            },
            {
                # SecureString under the AWS managed key aws/ssm: its key policy
                # already lets SSM decrypt for this account, so no kms: grant.
                "Sid": "JwtSecret",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter"],
                "Resource": [values.arn("ssm", f"parameter{values.jwt_secret_parameter}")],
            },
            {
                # infra/logs.tf creates the log groups (with a retention), so no CreateLogGroup.
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [
                    values.arn("logs", f"log-group:{function_prefix}:*"),
                    values.arn("logs", f"log-group:{function_prefix}-*:*"),
                ],
            },
        ],
    }


def policy_file_name(stage: str) -> str:
    return f"policy-{stage}.json"


def render(config: dict[str, Any], values: StageValues) -> dict[str, Any]:
    """config.json with this stage's environment and policy file set (a new dict)."""
    config = json.loads(json.dumps(config))
    stage = config.setdefault("stages", {}).setdefault(values.stage, {})
    stage["iam_policy_file"] = policy_file_name(values.stage)
    stage["environment_variables"] = environment(values)
    # Only the stream handler posts to connections outside a WebSocket event, and
    # putting the id on the WebSocket handlers would make them depend on their own API.
    functions = stage.setdefault("lambda_functions", {})
    stream_function = functions.setdefault(STREAM_FUNCTION, {})
    stream_function["environment_variables"] = {"WEBSOCKET_API_ID": values.websocket_api_id}
    return config


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def write(values: StageValues, chalice_dir: Path = CHALICE_DIR) -> bool:
    """Write config.json and the policy file for the stage; True when either changed."""
    config_path = chalice_dir / "config.json"
    policy_path = chalice_dir / policy_file_name(values.stage)
    wanted = {
        config_path: dumps(render(json.loads(config_path.read_text()), values)),
        policy_path: dumps(policy(values)),
    }
    changed = False
    for path, text in wanted.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed = True
    return changed
