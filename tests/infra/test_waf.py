"""infra/waf.tf: the REST stage's web ACL with per-source-IP rate-based rules.

Applied with Terraform against the moto server (moto 5.2 models WAFv2 web ACLs
and their association with API Gateway stages; it does not enforce the rules:
no traffic flows through it), then associated with a REST stage the way
deploy.sh does it (infra/tools throttles). test_deploy_scripts.py applies it as
part of the whole stage; test_security.py scans it with checkov.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from infra.tools import combined, throttles

from .conftest import ROOT, Moto, run

pytestmark = pytest.mark.infra

ROOT_MODULE = """
variable "stage" {
  type    = string
  default = "wafdev"
}
variable "app_name" {
  type    = string
  default = "chalice-chat"
}
variable "endpoint_url" { type = string }
provider "aws" {
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {
    wafv2 = var.endpoint_url
  }
}
"""


@pytest.fixture(scope="module")
def applied(
    moto: Moto, terraform: str, tf_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """infra/waf.tf alone (with a provider pointed at moto), applied; its outputs."""
    directory = tmp_path_factory.mktemp("waf")
    shutil.copy2(ROOT / "infra" / "waf.tf", directory / "waf.tf")
    (directory / "main.tf").write_text(ROOT_MODULE)
    run([terraform, "init", "-input=false", "-no-color"], tf_env, directory)
    run([terraform, "apply", "-input=false", "-auto-approve", "-no-color",
         "-var", f"endpoint_url={moto.endpoint}"], tf_env, directory)  # fmt: skip
    result = run([terraform, "output", "-json", "-no-color"], tf_env, directory)
    return {name: output["value"] for name, output in json.loads(result.stdout).items()}


def web_acl(moto: Moto, arn: str) -> dict:
    name, acl_id = arn.rsplit("/", 2)[-2:]
    return moto.client("wafv2").get_web_acl(Name=name, Scope="REGIONAL", Id=acl_id)["WebACL"]


def test_every_request_is_counted_per_source_ip(moto: Moto, applied: dict) -> None:
    rules = {rule["Name"]: rule for rule in web_acl(moto, applied["waf_web_acl_arn"])["Rules"]}
    every = rules["requests-per-ip"]
    assert every["Action"] == {"Block": {}}
    statement = every["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "IP"
    assert (statement["Limit"], statement["EvaluationWindowSec"]) == (2000, 300)
    assert "ScopeDownStatement" not in statement


def test_login_signup_and_refresh_get_a_tighter_limit_per_source_ip(
    moto: Moto, applied: dict
) -> None:
    rules = {rule["Name"]: rule for rule in web_acl(moto, applied["waf_web_acl_arn"])["Rules"]}
    statement = rules["auth-per-ip"]["Statement"]["RateBasedStatement"]
    assert (statement["AggregateKeyType"], statement["Limit"]) == ("IP", 100)
    pattern = statement["ScopeDownStatement"]["RegexMatchStatement"]["RegexString"]
    assert pattern == "/(login|signup|refresh)$"
    assert rules["auth-per-ip"]["Priority"] < rules["requests-per-ip"]["Priority"]


def test_deploy_puts_the_rest_stage_behind_the_web_acl_once(moto: Moto, applied: dict) -> None:
    apigateway = moto.client("apigateway")
    api = apigateway.create_rest_api(name="chalice-chat-wafdev")
    root = apigateway.get_resources(restApiId=api["id"])["items"][0]["id"]
    apigateway.put_method(restApiId=api["id"], resourceId=root, httpMethod="GET",
                          authorizationType="NONE")  # fmt: skip
    apigateway.put_integration(restApiId=api["id"], resourceId=root, httpMethod="GET",
                               type="MOCK")  # fmt: skip
    apigateway.create_deployment(restApiId=api["id"], stageName="api")
    stage_arn = throttles.rest_stage_arn("us-east-1", api["id"], "api")
    wafv2 = moto.client("wafv2")
    acl = applied["waf_web_acl_arn"]
    assert throttles.rest_web_acl(wafv2, acl, stage_arn) is True
    assert wafv2.get_web_acl_for_resource(ResourceArn=stage_arn)["WebACL"]["ARN"] == acl
    assert throttles.rest_web_acl(wafv2, acl, stage_arn) is False  # a second deploy: unchanged


def test_the_terraform_path_associates_the_web_acl_with_its_rest_stage() -> None:
    association = combined.additions({"resource": {}})["resource"]["aws_wafv2_web_acl_association"]
    assert association["rest_api"] == {
        "resource_arn": "${aws_api_gateway_stage.rest_api.arn}",
        "web_acl_arn": "${aws_wafv2_web_acl.rest.arn}",
    }


@pytest.mark.parametrize(
    ("variable", "value"), [("waf_requests_per_ip", 5), ("waf_window_seconds", 30)]
)
def test_limits_aws_waf_refuses_are_refused_at_plan(
    terraform: str, tf_env: dict[str, str], tmp_path: Path, variable: str, value: int
) -> None:
    shutil.copy2(ROOT / "infra" / "waf.tf", tmp_path / "waf.tf")
    (tmp_path / "main.tf").write_text(ROOT_MODULE)
    run([terraform, "init", "-input=false", "-no-color"], tf_env, tmp_path)
    result = run([terraform, "plan", "-input=false", "-no-color", "-var", "endpoint_url=http://x",
                  "-var", f"{variable}={value}"], tf_env, tmp_path, check=False)  # fmt: skip
    assert result.returncode != 0
    assert "AWS WAF" in result.stderr
