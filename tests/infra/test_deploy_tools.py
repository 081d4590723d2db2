"""The deploy helpers on their own: stage config, stream mapping settings, site upload."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from infra.tools import chalice_state, combined, event_source, site, stage_config

from .conftest import ROOT

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/chalice-chat-dev-messages/stream/2026"
CONNECTIONS_STREAM = (
    "arn:aws:dynamodb:us-east-1:123456789012:table/chalice-chat-dev-connections/stream/2026"
)
FUNCTION = "chalice-chat-dev-on_new_messages"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
UUID = "0d8e5c1a-6c1d-4a53-9f3e-2b7d1f0c9a11"
FUNCTIONS = set(stage_config.PERMISSIONS)


# ------------------------------------------------------------------ .chalice


def outputs(stage: str = "dev", reserved: int = 10) -> dict:
    """`terraform output -json` as infra/ gives it (account 123456789012)."""
    values = {
        "region": "eu-west-1",
        "account_id": "123456789012",
        "partition": "aws",
        "table_names": {name: f"chalice-chat-{stage}-{name}" for name in stage_config.TABLES},
        "stream_arns": {"messages": STREAM, "connections": CONNECTIONS_STREAM},
        "jwt_secret_parameter": f"/chalice-chat/{stage}/jwt-secret",
        "site_origin": "https://d111111abcdef8.cloudfront.net",
        "throttles": {"api_reserved_concurrency": reserved},
    }
    return {name: {"value": value, "type": "string"} for name, value in values.items()}


@pytest.fixture
def chalice_dir(tmp_path: Path) -> Path:
    target = tmp_path / ".chalice"
    target.mkdir()
    (target / "config.json").write_text((ROOT / ".chalice" / "config.json").read_text())
    return target


def test_committed_config_has_every_table_a_policy_per_function_and_no_secret() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["app_name"] == "chalice-chat"
    assert config["autogen_policy"] is False
    assert set(config["stages"]) >= {"dev", "prod", "local"}
    for name in ("dev", "prod"):
        stage = config["stages"][name]
        env = stage["environment_variables"]
        for spec in stage_config.TABLES.values():
            assert env[spec["name_env"]].startswith(f"chalice-chat-{name}-")
            if "stream_arn_env" in spec:
                assert env[spec["stream_arn_env"]].startswith("arn:aws:dynamodb:")
        assert "JWT_SECRET" not in env and "JWT_SECRET_PARAMETER" not in env
        assert env["CORS_ORIGIN"].startswith("https://")
        # A stage-level policy file would override every function's own.
        assert "iam_policy_file" not in stage
        functions = stage["lambda_functions"]
        assert set(functions) == FUNCTIONS
        for function, settings in functions.items():
            policy_file = ROOT / ".chalice" / settings["iam_policy_file"]
            assert json.loads(policy_file.read_text()) == stage_config.policy(
                stage_config.StageValues.placeholder(name), function
            ), f"{policy_file.name} is stale: regenerate it from permissions.json"
        secret_readers = {f for f, s in functions.items() if "JWT_SECRET_PARAMETER" in str(s)}
        assert secret_readers == {"api_handler", "websocket_connect"}
    memory = {
        name: function["lambda_memory_size"]
        for name, function in config["lambda_functions"].items()
    }
    assert memory["api_handler"] >= 1024  # bcrypt at cost 12 is CPU-bound
    assert "JWT_SECRET" not in json.dumps(config).replace("JWT_SECRET_PARAMETER", "")


def test_stage_config_writes_terraform_outputs_and_is_idempotent(chalice_dir: Path) -> None:
    values = stage_config.StageValues.from_terraform_outputs("dev", outputs())
    assert stage_config.write(values, chalice_dir) is True
    assert stage_config.write(values, chalice_dir) is False
    config = json.loads((chalice_dir / "config.json").read_text())
    stage = config["stages"]["dev"]
    env = stage["environment_variables"]
    assert env["MESSAGES_STREAM_ARN"] == STREAM
    assert env["CONNECTIONS_STREAM_ARN"] == CONNECTIONS_STREAM
    assert env["USERS_TABLE"] == "chalice-chat-dev-users"
    assert env["CORS_ORIGIN"] == "https://d111111abcdef8.cloudfront.net"
    assert stage["lambda_functions"]["api_handler"]["reserved_concurrency"] == 10
    for function in FUNCTIONS:
        assert (chalice_dir / f"policy-dev-{function}.json").is_file()
    # Memory settings and other stages are left as committed.
    committed = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["lambda_functions"] == committed["lambda_functions"]
    assert config["stages"]["prod"] == committed["stages"]["prod"]


def test_stage_config_writes_the_admins_from_terraform(chalice_dir: Path) -> None:
    given = outputs()
    given["admin_users"] = {"value": ["maria", "Tomas"], "type": ["list", "string"]}
    stage_config.write(stage_config.StageValues.from_terraform_outputs("dev", given), chalice_dir)
    config = json.loads((chalice_dir / "config.json").read_text())
    assert config["stages"]["dev"]["environment_variables"]["ADMIN_USERS"] == "maria,Tomas"


def test_xray_tracing_is_off_unless_terraform_turns_it_on(chalice_dir: Path) -> None:
    stage_config.write(stage_config.StageValues.from_terraform_outputs("dev", outputs()),
                       chalice_dir)
    stage = json.loads((chalice_dir / "config.json").read_text())["stages"]["dev"]
    assert "xray" not in stage and "TRACING" not in stage["environment_variables"]
    for function in FUNCTIONS:
        policy = json.loads((chalice_dir / f"policy-dev-{function}.json").read_text())
        assert "xray:" not in json.dumps(policy), function

    given = outputs()
    given["xray_tracing"] = {"value": True, "type": "bool"}
    stage_config.write(stage_config.StageValues.from_terraform_outputs("dev", given), chalice_dir)
    stage = json.loads((chalice_dir / "config.json").read_text())["stages"]["dev"]
    assert stage["xray"] is True
    assert stage["environment_variables"]["TRACING"] == "on"
    for function in FUNCTIONS:
        policy = json.loads((chalice_dir / f"policy-dev-{function}.json").read_text())
        (xray,) = [s for s in policy["Statement"] if s["Sid"] == "XRay"]
        assert xray["Action"] == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]


def test_the_combined_package_traces_as_the_variable_says() -> None:
    values = combined.sentinels("dev")
    package = {
        "resource": {
            "aws_lambda_function": {"api_handler": {"environment": {"variables": {"A": "b"}}},
                                    "websocket_message": {}},
            "aws_iam_role": {"api_handler_role": {}, "websocket_message_role": {}},
        },
        "output": {},
    }
    result = combined.post_process(package, values)
    for function in result["resource"]["aws_lambda_function"].values():
        assert function["tracing_config"] == {
            "mode": '${var.xray_tracing ? "Active" : "PassThrough"}'
        }
        assert function["environment"]["variables"]["TRACING"] == (
            '${var.xray_tracing ? "on" : "off"}'
        )
    assert result["resource"]["aws_lambda_function"]["api_handler"]["environment"][
        "variables"]["A"] == "b"
    grants = combined.additions(package)["resource"]["aws_iam_role_policy"]
    assert set(grants) == {"api_handler_role_xray", "websocket_message_role_xray"}
    for grant in grants.values():
        assert grant["count"] == "${var.xray_tracing ? 1 : 0}"
        assert json.loads(grant["policy"])["Statement"] == [stage_config.XRAY_STATEMENT]


def test_no_reserved_concurrency_when_the_account_cannot_spare_it(chalice_dir: Path) -> None:
    stage_config.write(
        stage_config.StageValues.from_terraform_outputs("dev", outputs(reserved=0)), chalice_dir
    )
    config = json.loads((chalice_dir / "config.json").read_text())
    assert "reserved_concurrency" not in config["stages"]["dev"]["lambda_functions"]["api_handler"]


def _statements(values: stage_config.StageValues, function: str) -> dict[str, dict]:
    return {s["Sid"]: s for s in stage_config.policy(values, function)["Statement"]}


def test_message_handler_policy_grants_no_users_table_and_no_secret() -> None:
    values = stage_config.StageValues.from_terraform_outputs("dev", outputs())
    resources = json.dumps(stage_config.policy(values, "websocket_message"))
    assert "chalice-chat-dev-users" not in resources
    assert "ssm:" not in resources
    assert "BatchWriteItem" not in resources
    # Batch reads only of connections (a typing frame's fence reads its connections
    # again) and of a frame's room with its membership (access and revision in one read).
    batch_reads = sorted(
        resource
        for statement in _statements(values, "websocket_message").values()
        if "dynamodb:BatchGetItem" in statement["Action"]
        for resource in statement["Resource"]
    )
    table = "arn:aws:dynamodb:eu-west-1:123456789012:table/chalice-chat-dev-"
    assert batch_reads == [table + "connections", table + "memberships", table + "rooms"]
    stream = _statements(values, "on_new_messages")
    assert stream["MessagesStream"]["Resource"] == [STREAM]
    assert "ssm:" not in json.dumps(stream)
    assert stream["Invoke"]["Resource"] == [
        "arn:aws:lambda:eu-west-1:123456789012:function:chalice-chat-dev-deliver_to_connections"
    ]
    presence = _statements(values, "on_connection_changes")
    assert presence["ConnectionsStream"]["Resource"] == [CONNECTIONS_STREAM]
    logs = _statements(values, "api_handler")["Logs"]["Resource"]
    assert logs == ["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/chalice-chat-dev:*"]


def test_policy_narrows_to_the_websocket_api_once_its_id_is_known(chalice_dir: Path) -> None:
    before = stage_config.StageValues.from_terraform_outputs("dev", outputs())
    after = stage_config.StageValues.from_terraform_outputs("dev", outputs(), "abc123")

    def connections(values: stage_config.StageValues) -> list[str]:
        return _statements(values, "on_new_messages")["ManageConnections"]["Resource"]

    assert connections(before) == [
        "arn:aws:execute-api:eu-west-1:123456789012:*/api/*/@connections/*"
    ]
    assert connections(after) == [
        "arn:aws:execute-api:eu-west-1:123456789012:abc123/api/*/@connections/*"
    ]
    stage_config.write(before, chalice_dir)
    assert stage_config.write(after, chalice_dir) is True  # deploy.sh redeploys on this
    config = json.loads((chalice_dir / "config.json").read_text())
    functions = config["stages"]["dev"]["lambda_functions"]
    posting = {
        f for f, s in functions.items() if "WEBSOCKET_API_ID" in s.get("environment_variables", {})
    }
    assert posting == {
        f for f, spec in stage_config.PERMISSIONS.items() if spec.get("manage_connections")
    }
    assert functions["on_new_messages"]["environment_variables"] == {"WEBSOCKET_API_ID": "abc123"}


def test_missing_outputs_are_a_clear_error() -> None:
    broken = outputs()
    del broken["stream_arns"]
    with pytest.raises(ValueError, match=r"stream_arns.*was infra/ applied"):
        stage_config.StageValues.from_terraform_outputs("dev", broken)


def _write_deployed(chalice_dir: Path, resources: list[dict]) -> None:
    (chalice_dir / "deployed").mkdir(exist_ok=True)
    (chalice_dir / "deployed" / "dev.json").write_text(json.dumps({"resources": resources}))


def test_deployed_state_gives_urls_ids_and_origins(chalice_dir: Path) -> None:
    assert chalice_state.read("dev", chalice_dir) is None
    _write_deployed(chalice_dir, [
        {"name": "on_new_messages", "resource_type": "lambda_function"},
        {"name": "rest_api", "resource_type": "rest_api", "rest_api_id": "r1",
         "rest_api_url": "https://r1.execute-api.us-east-1.amazonaws.com/api/"},
        {"name": "websocket_api", "resource_type": "websocket_api",
         "websocket_api_url": "wss://w1.execute-api.us-east-1.amazonaws.com/api/",
         "websocket_api_id": "w1"},
    ])  # fmt: skip
    state = chalice_state.read("dev", chalice_dir)
    assert state == chalice_state.Deployed(
        rest_api_url="https://r1.execute-api.us-east-1.amazonaws.com/api",
        websocket_api_url="wss://w1.execute-api.us-east-1.amazonaws.com/api",
        websocket_api_id="w1",
        rest_api_id="r1",
        functions=("on_new_messages",),
    )
    assert state.api_origins() == [
        "https://r1.execute-api.us-east-1.amazonaws.com",
        "wss://w1.execute-api.us-east-1.amazonaws.com",
    ]


def test_state_left_by_chalice_delete_counts_as_nothing_deployed(chalice_dir: Path) -> None:
    _write_deployed(chalice_dir, [])
    assert chalice_state.read("dev", chalice_dir) is None


# ------------------------------------------------------ --terraform package


def test_post_process_swaps_sentinels_for_infra_references() -> None:
    values = combined.sentinels("dev")
    mapping = combined.stream_mapping("on_connection_changes")
    policy = stage_config.policy(values, "on_connection_changes")
    package = {
        "terraform": {"required_version": ">= 0.12.26, < 1.4.0"},
        "data": {"null_data_source": {"chalice": {}}, "aws_region": {"chalice": {}}},
        "resource": {
            "aws_lambda_event_source_mapping": {
                mapping: {"event_source_arn": values.stream_arns["connections"]}
            },
            "aws_iam_role_policy": {"r": {"policy": json.dumps(policy)}},
        },
        "output": {},
    }
    result = combined.post_process(package, values)
    assert "terraform" not in result
    assert result["data"] == {"aws_region": {"chalice": {}}}
    source = result["resource"]["aws_lambda_event_source_mapping"][mapping]["event_source_arn"]
    assert source == '${aws_dynamodb_table.table["connections"].stream_arn}'
    policy = result["resource"]["aws_iam_role_policy"]["r"]["policy"]
    assert "${data.aws_caller_identity.current.account_id}" in policy
    assert "SENTINEL" not in json.dumps(result)


def test_override_sets_every_stream_mapping_of_the_package_and_the_throttles() -> None:
    present = combined.stream_mapping("on_new_messages")
    package = {"resource": {"aws_lambda_event_source_mapping": {present: {}}}}
    resources = combined.override(package)["resource"]
    assert set(resources["aws_lambda_event_source_mapping"]) == {present}
    settings = resources["aws_lambda_event_source_mapping"][present]
    assert settings["function_response_types"] == ["ReportBatchItemFailures"]
    stage = resources["aws_apigatewayv2_stage"]["websocket_api_stage"]
    assert stage["default_route_settings"]["throttling_rate_limit"] == (
        "${var.websocket_throttle_rate_limit}"
    )


# ------------------------------------------------------- stream mapping


def lambda_stub() -> tuple[object, Stubber]:
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def stub_function(stub: Stubber) -> None:
    stub.add_response(
        "get_function_configuration",
        {"FunctionName": FUNCTION, "FunctionArn": FUNCTION_ARN},
        {"FunctionName": FUNCTION},
    )


def test_stream_mapping_gets_report_batch_item_failures() -> None:
    client, stub = lambda_stub()
    stub_function(stub)
    # By ARN, which is how Chalice registered it (moto matches FunctionName literally).
    query = {"FunctionName": FUNCTION_ARN, "EventSourceArn": STREAM}
    stub.add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": [{"UUID": UUID, "FunctionResponseTypes": []}]},
        query,
    )
    stub.add_response("update_event_source_mapping", {}, {"UUID": UUID, **event_source.WANTED})
    with stub:
        assert event_source.configure(client, FUNCTION, STREAM) == [UUID]
    stub.assert_no_pending_responses()


def test_stream_mapping_already_configured_is_left_alone() -> None:
    client, stub = lambda_stub()
    stub_function(stub)
    stub.add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": [{"UUID": UUID, **event_source.WANTED}]},
    )
    with stub:  # an update call would fail: none is stubbed
        assert event_source.configure(client, FUNCTION, STREAM) == []


def test_missing_stream_mapping_is_a_clear_error() -> None:
    client, stub = lambda_stub()
    stub_function(stub)
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": []})
    with stub, pytest.raises(LookupError, match="no event source mapping"):
        event_source.configure(client, FUNCTION, STREAM)


# ------------------------------------------------------------------ site


@pytest.fixture
def bucket() -> Iterator[tuple[object, str]]:
    with mock_aws():
        s3 = boto3.client(
            "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        s3.create_bucket(Bucket="site")
        yield s3, "site"


def test_upload_skips_unchanged_objects_and_deletes_stale_ones(bucket) -> None:
    s3, name = bucket
    first = {"index.html": b"<html>1</html>", "assets/a-1.js": b"1"}
    assert site.upload(s3, name, first)["uploaded"] == ["assets/a-1.js", "index.html"]
    second = {"index.html": b"<html>2</html>", "assets/a-2.js": b"2"}
    report = site.upload(s3, name, second)
    assert report == {
        "uploaded": ["assets/a-2.js", "index.html"],
        "unchanged": [],
        "deleted": ["assets/a-1.js"],
    }
    assert site.upload(s3, name, second)["unchanged"] == ["assets/a-2.js", "index.html"]


def test_config_json_survives_an_asset_upload_and_is_not_cached(bucket) -> None:
    s3, name = bucket
    config = site.site_config("https://r.example/api", "wss://w.example/api")
    site.upload(s3, name, {"index.html": b"x", site.CONFIG_KEY: config})
    site.upload(s3, name, {"index.html": b"y"}, keep=frozenset({site.CONFIG_KEY}))
    stored = s3.get_object(Bucket=name, Key=site.CONFIG_KEY)
    assert json.loads(stored["Body"].read()) == {
        "apiUrl": "https://r.example/api",
        "wsUrl": "wss://w.example/api",
    }
    assert stored["CacheControl"] == "no-cache"
    assert stored["ContentType"] == "application/json"


def test_read_dist_needs_a_built_site(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="build the site first"):
        site.read_dist(tmp_path)


def test_empty_removes_every_object_and_tolerates_a_missing_bucket(bucket) -> None:
    s3, name = bucket
    site.upload(s3, name, {f"f{i}.txt": b"x" for i in range(3)})
    assert site.empty(s3, name) == 3
    assert s3.list_objects_v2(Bucket=name).get("KeyCount") == 0
    assert site.empty(s3, "no-such-bucket") == 0


def test_invalidation_covers_the_entry_paths_that_changed_only() -> None:
    with mock_aws():
        cloudfront = boto3.client(
            "cloudfront", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        distribution = cloudfront.create_distribution(
            DistributionConfig={
                "CallerReference": "t",
                "Comment": "",
                "Enabled": True,
                "Origins": {"Quantity": 1, "Items": [
                    {"Id": "s", "DomainName": "b.s3.us-east-1.amazonaws.com",
                     "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
                "DefaultCacheBehavior": {"TargetOriginId": "s",
                                         "ViewerProtocolPolicy": "redirect-to-https"},
            }
        )["Distribution"]["Id"]  # fmt: skip
        assert site.invalidate(cloudfront, distribution, ["assets/a-1.js"]) is None
        made = site.invalidate(cloudfront, distribution, ["assets/a-2.js", "index.html"])
        batch = cloudfront.get_invalidation(DistributionId=distribution, Id=made)["Invalidation"]
        assert batch["InvalidationBatch"]["Paths"]["Items"] == ["/", "/index.html"]
