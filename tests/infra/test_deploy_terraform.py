"""`./deploy.sh --terraform` end to end against a moto server: apply, then destroy.

One Terraform state holds infra/ and `chalice package`'s output
(infra/combined/<stage>/). Against the emulator of tests/infra/moto_launcher.py
the apply creates everything; the checks read back what Chalice's package
cannot express (every stream mapping's ReportBatchItemFailures, the stage
throttles, the REST function's reserved concurrency), then `./cleanup.sh
--terraform` destroys it all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.tools import event_source, stage_config

from .conftest import Moto, run
from .test_deploy_scripts import _copy_repo

pytestmark = pytest.mark.infra

STAGE = "tf"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def env(tf_env: dict[str, str], moto: Moto) -> dict[str, str]:
    return dict(tf_env, AWS_ENDPOINT_URL=moto.endpoint)


@pytest.fixture(scope="module")
def applied(repo: Path, env: dict[str, str]):
    command = ["./deploy.sh", "--yes", "--skip-build", "--terraform", "--stage", STAGE]
    return run(command, env, repo, timeout=900)


@pytest.fixture(scope="module")
def outputs(applied, repo: Path, env: dict[str, str], terraform: str) -> dict:
    result = run([terraform, f"-chdir=infra/combined/{STAGE}", "output", "-json"], env, repo)
    return {name: output["value"] for name, output in json.loads(result.stdout).items()}


def test_apply_runs_every_step(applied) -> None:
    for number in range(1, 9):
        assert f"[{number}/8]" in applied.stdout
    assert "Apply complete!" in applied.stdout


def test_site_config_points_at_the_applied_apis(moto: Moto, outputs: dict) -> None:
    body = moto.client("s3").get_object(Bucket=outputs["site_bucket"], Key="config.json")["Body"]
    assert json.loads(body.read()) == {
        "apiUrl": outputs["EndpointURL"].rstrip("/"),
        "wsUrl": outputs["WebsocketConnectEndpointURL"].rstrip("/"),
    }


def test_every_stream_mapping_reports_batch_item_failures(moto: Moto, outputs: dict) -> None:
    aws_lambda = moto.client("lambda")
    mappings = aws_lambda.list_event_source_mappings()["EventSourceMappings"]
    handlers = {m["FunctionArn"].rsplit(":", 1)[-1]: m for m in mappings}
    assert set(handlers) == {stage_config.lambda_name(STAGE, "on_new_messages")}
    for mapping in handlers.values():
        assert mapping["EventSourceArn"] == outputs["stream_arns"]["messages"]
        for key, value in event_source.WANTED.items():
            assert mapping[key] == value, key


def test_stages_are_throttled_and_the_rest_function_reserved(moto: Moto, outputs: dict) -> None:
    limits = outputs["throttles"]
    rest_api_id = outputs["EndpointURL"].split("//")[1].split(".")[0]
    stage = moto.client("apigateway").get_stage(restApiId=rest_api_id, stageName="api")
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == limits["rest_rate_limit"]
    assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == limits["rest_burst_limit"]
    websocket_api_id = outputs["WebsocketConnectEndpointURL"].split("//")[1].split(".")[0]
    route = moto.client("apigatewayv2").get_stage(ApiId=websocket_api_id, StageName="api")[
        "DefaultRouteSettings"
    ]
    assert route["ThrottlingRateLimit"] == limits["websocket_rate_limit"]
    assert route["ThrottlingBurstLimit"] == limits["websocket_burst_limit"]
    reserved = moto.client("lambda").get_function_concurrency(
        FunctionName=stage_config.lambda_name(STAGE, "api_handler")
    )
    assert reserved["ReservedConcurrentExecutions"] == limits["api_reserved_concurrency"] > 0


def test_each_function_has_its_own_role_with_its_generated_policy(moto: Moto) -> None:
    iam = moto.client("iam")
    for function in ("api_handler", "websocket_message", "on_new_messages"):
        configuration = moto.client("lambda").get_function_configuration(
            FunctionName=stage_config.lambda_name(STAGE, function)
        )
        role = configuration["Role"].rsplit("/", 1)[-1]
        (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
        granted = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        sids = {statement["Sid"] for statement in granted["Statement"]}
        wanted = stage_config.PERMISSIONS[function]
        assert ("JwtSecret" in sids) == bool(wanted.get("jwt_secret")), function
        assert ("UsersTable" in sids) == ("users" in wanted.get("tables", {})), function


@pytest.fixture(scope="module")
def destroyed(outputs: dict, repo: Path, env: dict[str, str]):
    command = ["./cleanup.sh", "--yes", "--terraform", "--stage", STAGE]
    return run(command, env, repo, timeout=900)


def test_cleanup_destroys_everything(moto: Moto, destroyed) -> None:
    assert "Destroy complete!" in destroyed.stdout
    assert moto.client("dynamodb").list_tables()["TableNames"] == []
    assert moto.client("lambda").list_functions()["Functions"] == []
    assert moto.client("iam").list_roles()["Roles"] == []
    assert moto.client("apigateway").get_rest_apis()["items"] == []
    assert moto.client("apigatewayv2").get_apis()["Items"] == []
    assert moto.client("s3").list_buckets()["Buckets"] == []
    assert moto.client("cloudfront").list_distributions()["DistributionList"].get("Items", []) == []
