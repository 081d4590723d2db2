"""infra/ and the `--terraform` combined configuration: formatted, valid, and the
combined one plans against a moto server with the settings Chalice cannot make.

The combined configuration holds infra/*.tf verbatim next to the Chalice
package, so validating it validates infra/ as well (and the deploy.sh test
plans and applies infra/ on its own): each `terraform validate` costs a load of
the AWS provider's schema, the slowest thing in these tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.tools import combined, event_source

from .conftest import ROOT, Moto, run, start_moto, stop_moto

pytestmark = pytest.mark.infra


def test_infra_is_formatted(terraform: str, tf_env: dict[str, str]) -> None:
    run([terraform, "fmt", "-check", "-diff", "-no-color", str(ROOT / "infra")], tf_env, ROOT)


@pytest.fixture(scope="module")
def combined_dir(
    tmp_path_factory: pytest.TempPathFactory, terraform: str, tf_env: dict[str, str]
) -> Path:
    """`deploy.sh --terraform`'s configuration for stage dev, initialised."""
    target = tmp_path_factory.mktemp("combined") / "dev"
    env = dict(tf_env)
    # combined.build runs `chalice package` with this interpreter's environment.
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        combined.build("dev", "us-east-1", target)
    run([terraform, "init", "-input=false", "-no-color"], tf_env, target)
    return target


@pytest.fixture(scope="module")
def combined_plan(
    combined_dir: Path,
    terraform: str,
    tf_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict]:
    """The combined configuration's plan against an empty moto account, as JSON."""
    moto: Moto = start_moto(tmp_path_factory.mktemp("moto-plan") / "moto.log")
    try:
        plan = combined_dir / "dev.tfplan"
        run(
            [
                terraform,
                "plan",
                "-input=false",
                "-no-color",
                f"-out={plan}",
                f"-var=endpoint_url={moto.endpoint}",
            ],
            tf_env,
            combined_dir,
        )
        shown = run([terraform, "show", "-json", str(plan)], tf_env, combined_dir)
        yield json.loads(shown.stdout)
    finally:
        stop_moto(moto)


def test_combined_package_drops_chalice_version_pins_and_null_provider(
    combined_dir: Path,
) -> None:
    package = json.loads((combined_dir / "chalice.tf.json").read_text())
    assert "terraform" not in package
    assert "null_data_source" not in package.get("data", {})
    assert "SENTINEL" not in json.dumps(package)


def test_combined_configuration_and_infra_are_valid(
    combined_dir: Path, terraform: str, tf_env: dict[str, str]
) -> None:
    result = run([terraform, "validate", "-json", "-no-color"], tf_env, combined_dir)
    report = json.loads(result.stdout)
    assert report["valid"], report
    # The REST stage moved out of aws_api_gateway_deployment: no deprecation left.
    assert report["warning_count"] == 0, report["diagnostics"]


def _planned(plan: dict, address: str) -> dict:
    for change in plan["resource_changes"]:
        if change["address"] == address:
            return change
    raise AssertionError(f"{address} is not in the plan")


def test_combined_plan_reports_batch_item_failures(combined_plan: dict) -> None:
    mapping = _planned(
        combined_plan,
        f"aws_lambda_event_source_mapping.{combined.STREAM_MAPPING}",
    )["change"]
    wanted = event_source.WANTED
    assert mapping["after"]["function_response_types"] == wanted["FunctionResponseTypes"]
    assert mapping["after"]["bisect_batch_on_function_error"] is True
    assert mapping["after"]["maximum_retry_attempts"] == wanted["MaximumRetryAttempts"]
    # The stream comes from the messages table of the same plan.
    assert mapping["after_unknown"]["event_source_arn"] is True


def test_combined_plan_wires_lambdas_to_infra_resources(combined_plan: dict) -> None:
    stream = _planned(combined_plan, "aws_lambda_function.on_new_messages")["change"]
    # Environment (stream ARN, WebSocket API id) and policy depend on resources
    # created in the same apply, so they are unknown until then, never literals.
    assert stream["after_unknown"]["environment"] == [{"variables": True}]
    policy = _planned(combined_plan, "aws_iam_role_policy.api_handler_role")["change"]
    assert policy["after_unknown"]["policy"] is True
    api = _planned(combined_plan, "aws_lambda_function.api_handler")["change"]["after"]
    assert api["memory_size"] >= 1024  # bcrypt wants CPU


def test_combined_plan_creates_tables_and_apis(combined_plan: dict) -> None:
    created = {
        change["address"]
        for change in combined_plan["resource_changes"]
        if change["change"]["actions"] == ["create"]
    }
    tables = {
        f'aws_dynamodb_table.table["{name}"]'
        for name in json.loads((ROOT / "chalicelib" / "tables.json").read_text())
        if not name.startswith("_")
    }
    assert tables <= created
    assert {
        "aws_api_gateway_rest_api.rest_api",
        "aws_api_gateway_stage.rest_api",
        "aws_apigatewayv2_api.websocket_api",
        "aws_ssm_parameter.jwt_secret",
        "aws_s3_bucket.site",
    } <= created
