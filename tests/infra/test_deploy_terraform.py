"""`./deploy.sh --terraform` and `./cleanup.sh --terraform` end to end against a moto server.

Stage `tf` goes through the one-state path in its own copy of the repository:
`chalice package` output combined with infra/ and applied, checks of what
Chalice's package cannot express (stream mapping settings, throttles, the web
ACL, reserved concurrency, a policy per function), then destroyed. Its own
module, so its own moto server and xdist worker: test_deploy_scripts.py
(the `chalice deploy` path) runs beside it on the other worker.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from infra.tools import event_source, stage_config

from .conftest import Moto, cleanup, deploy, left_of_stage, run

# A script run may take minutes on a busy machine: run()'s own limit, not pytest-timeout's 300 s.
pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]

TERRAFORM_STAGE = "tf"
OPTIONS = ("--terraform", "--stage", TERRAFORM_STAGE)


@pytest.fixture(scope="module")
def terraform_applied(repo: Path, env: dict[str, str]):
    """One `./deploy.sh --yes --skip-build --terraform --stage tf` run."""
    return deploy(repo, env, *OPTIONS)


@pytest.fixture(scope="module")
def terraform_outputs(terraform_applied, repo: Path, env: dict[str, str], terraform: str) -> dict:
    directory = f"-chdir=infra/combined/{TERRAFORM_STAGE}"
    result = run([terraform, directory, "output", "-json"], env, repo)
    return {name: output["value"] for name, output in json.loads(result.stdout).items()}


def test_terraform_path_applies_every_step(terraform_applied) -> None:
    for number in range(1, 9):
        assert f"[{number}/8]" in terraform_applied.stdout
    assert "Apply complete!" in terraform_applied.stdout


def test_terraform_path_points_the_site_at_its_apis(moto: Moto, terraform_outputs: dict) -> None:
    bucket = terraform_outputs["site_bucket"]
    body = moto.client("s3").get_object(Bucket=bucket, Key="config.json")["Body"]
    assert json.loads(body.read()) == {
        "apiUrl": terraform_outputs["EndpointURL"].rstrip("/"),
        "wsUrl": terraform_outputs["WebsocketConnectEndpointURL"].rstrip("/"),
    }


def test_terraform_path_sets_what_chalice_package_cannot(
    moto: Moto, terraform_outputs: dict
) -> None:
    aws_lambda = moto.client("lambda")
    name = stage_config.lambda_name(TERRAFORM_STAGE, "on_new_messages")
    arn = aws_lambda.get_function_configuration(FunctionName=name)["FunctionArn"]
    (mapping,) = aws_lambda.list_event_source_mappings(FunctionName=arn)["EventSourceMappings"]
    assert mapping["EventSourceArn"] == terraform_outputs["stream_arns"]["messages"]
    for key, value in event_source.WANTED.items():
        assert mapping[key] == value, key
    limits = terraform_outputs["throttles"]
    rest_api_id = urlsplit(terraform_outputs["EndpointURL"]).netloc.split(".")[0]
    rest = moto.client("apigateway").get_stage(restApiId=rest_api_id, stageName="api")
    assert rest["methodSettings"]["*/*"]["throttlingRateLimit"] == limits["rest_rate_limit"]
    assert rest["methodSettings"]["*/*"]["throttlingBurstLimit"] == limits["rest_burst_limit"]
    websocket_api_id = urlsplit(terraform_outputs["WebsocketConnectEndpointURL"]).netloc
    route = moto.client("apigatewayv2").get_stage(
        ApiId=websocket_api_id.split(".")[0], StageName="api"
    )["DefaultRouteSettings"]
    assert route["ThrottlingRateLimit"] == limits["websocket_rate_limit"]
    assert route["ThrottlingBurstLimit"] == limits["websocket_burst_limit"]
    stage_arn = f"arn:aws:apigateway:us-east-1::/restapis/{rest_api_id}/stages/api"
    acl = moto.client("wafv2").get_web_acl_for_resource(ResourceArn=stage_arn)["WebACL"]
    assert acl["ARN"] == terraform_outputs["waf_web_acl_arn"]
    reserved = aws_lambda.get_function_concurrency(
        FunctionName=stage_config.lambda_name(TERRAFORM_STAGE, "api_handler")
    )
    assert reserved["ReservedConcurrentExecutions"] == limits["api_reserved_concurrency"]


def test_terraform_path_gives_each_function_its_own_policy(moto: Moto, terraform_applied) -> None:
    iam, aws_lambda = moto.client("iam"), moto.client("lambda")
    for function in ("api_handler", "websocket_message", "on_new_messages"):
        name = stage_config.lambda_name(TERRAFORM_STAGE, function)
        role = aws_lambda.get_function_configuration(FunctionName=name)["Role"].rsplit("/", 1)[-1]
        (policy_name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
        granted = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
        sids = {statement["Sid"] for statement in granted["Statement"]}
        wanted = stage_config.PERMISSIONS[function]
        assert ("JwtSecret" in sids) == bool(wanted.get("jwt_secret")), function
        assert ("UsersTable" in sids) == ("users" in wanted.get("tables", {})), function


@pytest.fixture(scope="module")
def destroyed(terraform_outputs: dict, repo: Path, env: dict[str, str]):
    """One `./cleanup.sh --yes --terraform --stage tf` run, after every check above."""
    return cleanup(repo, env, *OPTIONS)


def test_terraform_cleanup_destroys_its_stage(
    moto: Moto, destroyed, terraform_outputs: dict
) -> None:
    assert "Destroy complete!" in destroyed.stdout
    rest_api_id = urlsplit(terraform_outputs["EndpointURL"]).netloc.split(".")[0]
    assert left_of_stage(moto, TERRAFORM_STAGE, terraform_outputs, rest_api_id) == {}
