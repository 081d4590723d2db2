"""infra/ and the `--terraform` combined configuration: formatted and valid.

The combined configuration holds infra/*.tf verbatim next to the Chalice
package, so validating it validates infra/ as well, including what the emulator
cannot model and so never applies (the response-headers policy with the CSP and
HSTS): each `terraform validate` costs a load of the AWS provider's schema.
test_deploy_scripts.py and test_deploy_terraform.py apply and destroy the two paths
against the emulator.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.tools import combined

from .conftest import ROOT, run

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


def test_combined_package_gets_every_stream_mapping_and_the_throttles(
    combined_dir: Path,
) -> None:
    override = json.loads((combined_dir / "chalice_override.tf.json").read_text())["resource"]
    package = json.loads((combined_dir / "chalice.tf.json").read_text())["resource"]
    assert set(override["aws_lambda_event_source_mapping"]) == set(
        package["aws_lambda_event_source_mapping"]
    )
    additions = json.loads((combined_dir / "additions.tf.json").read_text())["resource"]
    assert "aws_api_gateway_method_settings" in additions
    assert set(additions["aws_lambda_function_event_invoke_config"]) == {"deliver_to_connections"}
