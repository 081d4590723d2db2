"""deploy.sh and cleanup.sh end to end against a moto server, in a copy of the repo.

moto applies all of infra/ and the site upload, and `chalice deploy` gets as far
as the IAM roles, the Lambdas and the stream subscription. Then moto answers
Chalice's Swagger 2.0 ImportRestApi with a 500: the WebSocket API, the second
deploy with its id, the stream mapping settings and the site's config.json are
never reached here. The tests check everything up to that point, expect the
script to fail there with a clear message, and say so in an xfail.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from infra.tools import site, stage_config

from .conftest import ROOT, Moto, run

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.infra

STAGE = "dev"
APP_FILES = ("app.py", "requirements.txt", "chalicelib", "deploy.sh", "cleanup.sh", "Makefile")
TABLES = stage_config.TABLES


def _copy_repo(target: Path) -> Path:
    """What deploy.sh needs, without infra/'s state or .chalice/deployed of this checkout."""
    skip = shutil.ignore_patterns("__pycache__", ".terraform*", "terraform.tfstate*", "combined")
    for name in APP_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=skip)
        else:
            shutil.copy2(source, target / name)
    shutil.copytree(ROOT / "infra", target / "infra", ignore=skip)
    shutil.copy2(HERE / "emulated_cloudfront_override.tf", target / "infra")
    (target / ".chalice").mkdir()
    for path in (ROOT / ".chalice").glob("*.json"):
        shutil.copy2(path, target / ".chalice" / path.name)
    if (ROOT / ".chalice" / "deployments").is_dir():  # Lambda dependency zips: saves a pip run
        shutil.copytree(ROOT / ".chalice" / "deployments", target / ".chalice" / "deployments")
    (target / ".venv").symlink_to(ROOT / ".venv")
    dist = target / "frontend" / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>chat</title><div id=root></div>")
    (dist / "assets" / "index-3f2a1b.js").write_text("console.log('chat')")
    (dist / "assets" / "index-9c8d7e.css").write_text("body{margin:0}")
    (dist / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return target


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def env(tf_env: dict[str, str], moto: Moto) -> dict[str, str]:
    return dict(tf_env, AWS_ENDPOINT_URL=moto.endpoint)


@pytest.fixture(scope="module")
def deployed(repo: Path, env: dict[str, str]):
    """One `./deploy.sh --yes --skip-build` run."""
    return run(["./deploy.sh", "--yes", "--skip-build"], env, repo, check=False, timeout=600)


@pytest.fixture(scope="module")
def outputs(deployed, repo: Path, env: dict[str, str], terraform: str) -> dict:
    result = run([terraform, "-chdir=infra", "output", "-json"], env, repo)
    return {name: output["value"] for name, output in json.loads(result.stdout).items()}


def test_deploy_runs_until_moto_refuses_the_rest_api_import(deployed) -> None:
    output = deployed.stdout + deployed.stderr
    for number in range(1, 5):
        assert f"[{number}/8]" in output
    assert "Apply complete!" in output
    assert "Creating lambda function: chalice-chat-dev-on_new_messages" in output
    assert "ImportRestApi" in output
    assert deployed.returncode == 1
    assert "deploy.sh: step 5/8 (chalice deploy --stage dev) failed" in deployed.stderr


@pytest.mark.xfail(
    strict=True,
    reason="moto refuses Chalice's Swagger 2.0 ImportRestApi, so deploy.sh cannot reach the "
    "WebSocket API, the stream mapping settings and config.json offline (needs real AWS)",
)
def test_deploy_completes(deployed) -> None:
    assert deployed.returncode == 0


def test_tables_follow_tables_json(moto: Moto, outputs: dict) -> None:
    dynamodb = moto.client("dynamodb")
    for logical, spec in TABLES.items():
        name = outputs["table_names"][logical]
        assert name == f"chalice-chat-{STAGE}-{logical}"
        table = dynamodb.describe_table(TableName=name)["Table"]
        keys = {key["KeyType"]: key["AttributeName"] for key in table["KeySchema"]}
        assert keys["HASH"] == spec["hash_key"]
        assert keys.get("RANGE") == spec.get("range_key")
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSEDescription"]["Status"] == "ENABLED"
        backups = dynamodb.describe_continuous_backups(TableName=name)
        pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"
        indexes = {
            index["IndexName"]: index["Projection"]["ProjectionType"]
            for index in table.get("GlobalSecondaryIndexes", [])
        }
        wanted = {i["name"]: i["projection"] for i in spec.get("global_secondary_indexes", [])}
        assert indexes == wanted
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if "ttl_attribute" in spec:
            assert ttl["TimeToLiveStatus"] == "ENABLED"
            assert ttl["AttributeName"] == spec["ttl_attribute"]
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"
        stream = table.get("StreamSpecification", {"StreamEnabled": False})
        if "stream_view_type" in spec:
            assert stream["StreamViewType"] == spec["stream_view_type"]
            assert table["LatestStreamArn"] == outputs["messages_stream_arn"]
        else:
            assert not stream["StreamEnabled"]


def test_site_bucket_serves_a_website_and_grants_only_object_reads(
    moto: Moto, outputs: dict
) -> None:
    s3 = moto.client("s3")
    bucket = outputs["site_bucket"]
    website = s3.get_bucket_website(Bucket=bucket)
    assert website["IndexDocument"]["Suffix"] == "index.html"
    assert website["ErrorDocument"]["Key"] == "index.html"
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    public = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert len(public) == 1
    assert public[0]["Action"] == "s3:GetObject"
    assert public[0]["Resource"] == f"arn:aws:s3:::{bucket}/*"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block["BlockPublicAcls"] and block["IgnorePublicAcls"]
    assert outputs["website_url"] == outputs["site_origin"]
    assert bucket in outputs["website_url"]


def test_site_objects_carry_content_types_and_cache_headers(moto: Moto, outputs: dict) -> None:
    s3 = moto.client("s3")
    bucket = outputs["site_bucket"]
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {
        "index.html",
        "assets/index-3f2a1b.js",
        "assets/index-9c8d7e.css",
        "favicon.svg",
    }
    expected = {
        "index.html": ("text/html; charset=utf-8", site.NO_CACHE),
        "assets/index-3f2a1b.js": ("text/javascript; charset=utf-8", site.IMMUTABLE),
        "assets/index-9c8d7e.css": ("text/css; charset=utf-8", site.IMMUTABLE),
        "favicon.svg": ("image/svg+xml", site.SHORT),
    }
    for key, (content_type, cache) in expected.items():
        head = s3.head_object(Bucket=bucket, Key=key)
        assert (head["ContentType"], head["CacheControl"]) == (content_type, cache), key


def test_jwt_secret_is_random_and_never_printed_or_stored_in_state(
    moto: Moto, outputs: dict, deployed, repo: Path
) -> None:
    parameter = moto.client("ssm").get_parameter(
        Name=outputs["jwt_secret_parameter"], WithDecryption=True
    )["Parameter"]
    assert parameter["Type"] == "SecureString"
    secret = parameter["Value"]
    assert re.fullmatch(r"[A-Za-z0-9]{64}", secret)
    assert secret not in deployed.stdout + deployed.stderr
    states = [path for path in (repo / "infra").rglob("terraform.tfstate*") if path.is_file()]
    assert states, "no Terraform state written"
    for state in states:
        assert secret not in state.read_text()


def test_stage_config_carries_the_applied_values(repo: Path, outputs: dict) -> None:
    config = json.loads((repo / ".chalice" / "config.json").read_text())["stages"][STAGE]
    env = config["environment_variables"]
    assert env["MESSAGES_STREAM_ARN"] == outputs["messages_stream_arn"]
    assert env["JWT_SECRET_PARAMETER"] == outputs["jwt_secret_parameter"]
    assert env["CORS_ORIGIN"] == outputs["site_origin"]
    for logical, spec in TABLES.items():
        assert env[spec["name_env"]] == outputs["table_names"][logical]
    policy = json.loads((repo / ".chalice" / config["iam_policy_file"]).read_text())
    resources = [r for statement in policy["Statement"] for r in statement["Resource"]]
    assert outputs["messages_stream_arn"] in resources
    assert all(":123456789012:" in r for r in resources)  # moto's account, not the placeholder


def test_chalice_created_the_lambdas_it_reached(moto: Moto, repo: Path, outputs: dict) -> None:
    """Before the REST import, Chalice made the stream handler and the REST handler."""
    aws_lambda = moto.client("lambda")
    stream_handler = aws_lambda.get_function_configuration(
        FunctionName="chalice-chat-dev-on_new_messages"
    )
    configured = json.loads((repo / ".chalice" / "config.json").read_text())
    assert (
        stream_handler["MemorySize"]
        == configured["lambda_functions"]["on_new_messages"]["lambda_memory_size"]
    )
    variables = stream_handler["Environment"]["Variables"]
    assert variables["MESSAGES_STREAM_ARN"] == outputs["messages_stream_arn"]
    assert "JWT_SECRET" not in variables
    assert (
        aws_lambda.get_function_configuration(FunctionName="chalice-chat-dev")["MemorySize"] >= 1024
    )
    mappings = [
        mapping["EventSourceArn"]
        for mapping in aws_lambda.list_event_source_mappings()["EventSourceMappings"]
        if mapping["FunctionArn"] == stream_handler["FunctionArn"]
    ]
    assert mappings == [outputs["messages_stream_arn"]]
    iam = moto.client("iam")
    policy_file = json.loads((repo / ".chalice" / f"policy-{STAGE}.json").read_text())
    names = iam.list_role_policies(RoleName="chalice-chat-dev-on_new_messages")["PolicyNames"]
    granted = iam.get_role_policy(RoleName="chalice-chat-dev-on_new_messages", PolicyName=names[0])[
        "PolicyDocument"
    ]
    assert granted == policy_file


def test_second_run_changes_nothing_it_need_not(
    outputs: dict, repo: Path, env: dict[str, str]
) -> None:
    again = run(["./deploy.sh", "--yes", "--skip-build"], env, repo, check=False, timeout=600)
    assert "Terraform: no changes" in again.stdout
    assert "Apply complete!" not in again.stdout
    assert "0 uploaded, 4 unchanged, 0 deleted" in again.stdout
    assert ".chalice/config.json and policy-dev.json: unchanged" in again.stdout
    # ... and moto stops it at the same place as the first run.
    assert "step 5/8 (chalice deploy --stage dev) failed" in again.stderr


@pytest.fixture(scope="module")
def cleaned(outputs: dict, repo: Path, env: dict[str, str]):
    """One `./cleanup.sh --yes` run, after every check of the deployed stage."""
    return run(["./cleanup.sh", "--yes"], env, repo, check=False, timeout=600)


def test_cleanup_removes_the_stage(moto: Moto, outputs: dict, cleaned) -> None:
    assert cleaned.returncode == 0, cleaned.stdout[-4000:] + cleaned.stderr[-4000:]
    assert "4 objects deleted" in cleaned.stdout
    assert "Destroy complete!" in cleaned.stdout
    assert moto.client("dynamodb").list_tables()["TableNames"] == []
    assert moto.client("s3").list_buckets()["Buckets"] == []
    assert moto.client("ssm").describe_parameters()["Parameters"] == []
    assert moto.client("logs").describe_log_groups()["logGroups"] == []


def test_cleanup_removes_what_the_failed_chalice_deploy_left(moto: Moto, cleaned) -> None:
    # Chalice writes .chalice/deployed/<stage>.json only after a complete deploy,
    # so `chalice delete` cannot see these; cleanup.sh finds them by tag and name.
    assert "nothing recorded in .chalice/deployed/dev.json" in cleaned.stdout
    assert "deleted function chalice-chat-dev-on_new_messages" in cleaned.stdout
    assert "deleted event source mapping" in cleaned.stdout
    assert moto.client("lambda").list_functions()["Functions"] == []
    assert moto.client("lambda").list_event_source_mappings()["EventSourceMappings"] == []
    assert moto.client("iam").list_roles()["Roles"] == []


def test_cleanup_is_safe_to_rerun(cleaned, repo: Path, env: dict[str, str]) -> None:
    again = run(["./cleanup.sh", "--yes"], env, repo, check=False)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert "nothing to destroy" in again.stdout
