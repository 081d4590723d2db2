"""Static security check of the Terraform with checkov (in its own venv, .venv-checkov).

infra/ gets every checkov check; the few deliberate exceptions are inline
`#checkov:skip=` comments with their reason, next to the resource. The IAM
policies in .chalice/ (one per function and stage, each attached to that
function's role) get the IAM checks. A deliberately bad configuration proves those checks can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import venv
from dataclasses import replace
from pathlib import Path

import pytest

from infra.tools import stage_config

from .conftest import ROOT, copy_infra

pytestmark = pytest.mark.infra

VENV = ROOT / ".venv-checkov"
REQUIREMENTS = ROOT / "infra" / "checkov-requirements.txt"
# IAM: no wildcard resources or actions, no privilege escalation, no data exfiltration.
IAM_CHECKS = [
    "CKV_AWS_1", "CKV_AWS_49", "CKV_AWS_62", "CKV_AWS_63", "CKV_AWS_107", "CKV_AWS_108",
    "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111", "CKV_AWS_286", "CKV_AWS_287", "CKV_AWS_288",
    "CKV_AWS_289", "CKV_AWS_290", "CKV_AWS_355",
]  # fmt: skip
# S3: no public ACLs, no principal "*" with anything but reads.
PUBLIC_CHECKS = ["CKV_AWS_20", "CKV_AWS_57", "CKV_AWS_70", "CKV_AWS_93"]


@pytest.fixture(scope="session")
def checkov() -> Path:
    """checkov from .venv-checkov, installed from its pin on first use."""
    binary = VENV / "bin" / "checkov"
    stamp = VENV / ".installed-stamp"
    if not stamp.exists() or stamp.read_text() != REQUIREMENTS.read_text():
        if not binary.exists():
            venv.create(VENV, with_pip=True)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
               "--disable-pip-version-check", "-r", str(REQUIREMENTS)]  # fmt: skip
        installed = subprocess.run(pip, capture_output=True, text=True, timeout=900)
        if installed.returncode != 0:
            pytest.fail(f"could not install checkov into {VENV}:\n{installed.stderr[-3000:]}")
        stamp.write_text(REQUIREMENTS.read_text())
    return binary


def policy_files() -> list[Path]:
    """Every committed policy: one per stage and function (.chalice/permissions.json)."""
    files = sorted((ROOT / ".chalice").glob("policy-*-*.json"))
    assert len(files) == 2 * len(stage_config.PERMISSIONS), files
    return files


def scan(checkov: Path, directory: Path, framework: str, checks: list[str] | None = None) -> dict:
    args = [str(checkov), "-d", str(directory), "--framework", framework, "--output", "json",
            "--skip-download", "--compact"]  # fmt: skip
    if checks:
        args += ["--check", ",".join(checks)]
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    report = json.loads(result.stdout or "{}")
    # One framework gives a dict; an empty scan gives {} or a summary-only list.
    return report if isinstance(report, dict) else report[0]


def failed(report: dict) -> list[str]:
    return [
        f"{check['check_id']} {check['resource']} ({check['file_path']})"
        for check in report.get("results", {}).get("failed_checks", [])
    ]


def _role_policy_tf(directory: Path, policies: dict[str, str]) -> Path:
    """Role policies as Chalice deploys them: the policy file's JSON as a string.

    Written as HCL: checkov reads JSON policy strings there, not in .tf.json.
    """
    directory.mkdir()
    blocks = [
        f'resource "aws_iam_role_policy" "{name}" {{\n'
        f'  name   = "{name}"\n  role   = "{name}"\n  policy = {json.dumps(policy)}\n}}\n'
        for name, policy in policies.items()
    ]
    (directory / "main.tf").write_text("\n".join(blocks))
    return directory


@pytest.fixture(scope="module")
def report(checkov: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One scan (checkov's start-up is the slow part) of infra/ and the .chalice policies."""
    target = tmp_path_factory.mktemp("scan")
    copy_infra(target / "infra")
    policies = {path.stem.replace("-", "_"): path.read_text() for path in policy_files()}
    # A stage with X-Ray on (infra's xray_tracing): its grant must pass the same checks.
    traced = replace(stage_config.StageValues.placeholder("traced"), xray_tracing=True)
    policies["policy_traced_websocket_message"] = json.dumps(
        stage_config.policy(traced, "websocket_message")
    )
    _role_policy_tf(target / "policies", policies)
    return scan(checkov, target, "terraform")


def test_infra_passes_every_checkov_check(report: dict) -> None:
    assert report["summary"]["passed"] > 20
    assert [entry for entry in failed(report) if "/infra/" in entry] == []


def test_committed_iam_policies_pass_the_iam_checks(report: dict) -> None:
    passed = {
        (check["check_id"], check["resource"])
        for check in report["results"]["passed_checks"]
        if check["resource"].startswith("aws_iam_role_policy.")
    }
    names = [path.stem.replace("-", "_") for path in policy_files()]
    for name in [*names, "policy_traced_websocket_message"]:
        ran = {check for check, resource in passed if resource.endswith(f".{name}")}
        assert {"CKV_AWS_355", "CKV_AWS_290"} <= ran, (name, ran)
    assert failed(report) == []


def test_checks_catch_wildcard_dynamodb_and_public_bucket(checkov: Path, tmp_path: Path) -> None:
    """The same scans on what we must never ship: they have to fail."""
    wildcard = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}],
    }
    bad = _role_policy_tf(tmp_path / "bad", {"wildcard": json.dumps(wildcard)})
    public = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}
        ],
    }
    with (bad / "main.tf").open("a") as main:
        main.write(
            f'resource "aws_s3_bucket_policy" "b" {{\n  bucket = "b"\n'
            f"  policy = {json.dumps(json.dumps(public))}\n}}\n"
        )
    report = scan(checkov, bad, "terraform", IAM_CHECKS + PUBLIC_CHECKS)
    ids = {entry.split()[0] for entry in failed(report)}
    assert "CKV_AWS_355" in ids  # "*" resource for restrictable actions
    assert "CKV_AWS_70" in ids  # any principal allowed more than reads


def test_committed_policies_name_every_table_and_no_wildcard_table() -> None:
    for path in policy_files():
        stage = path.stem.split("-")[1]
        policy = json.loads(path.read_text())
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow"
            assert "*" not in statement["Action"]
            for resource in statement["Resource"]:
                assert resource != "*"
                if ":dynamodb:" in resource:
                    table = resource.split(":table/")[1].split("/")[0]
                    assert table.startswith(f"chalice-chat-{stage}-") and "*" not in table
