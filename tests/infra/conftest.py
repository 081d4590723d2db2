"""Offline infrastructure checks: Terraform (provider from the machine's mirror
when there is one), a moto server on 127.0.0.1 standing in for AWS, and copies of
the repository so no test touches infra/'s real state or .chalice/deployed/.

A module that runs deploy.sh / cleanup.sh asks for `repo` (its copy of the
repository) and `env` (Terraform's environment pointed at its own moto server):
each such module is one xdist group, so two of them run on two workers at once
without sharing a server or a state."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# Where the machine image keeps the AWS provider (docs/DESIGN.md, "Facts checked").
MIRROR_CANDIDATES = [os.environ.get("TF_PROVIDER_MIRROR", ""), "/opt/tf-plugins"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def provider_mirror() -> Path | None:
    for candidate in MIRROR_CANDIDATES:
        if candidate and (Path(candidate) / "registry.terraform.io").is_dir():
            return Path(candidate)
    return None


@dataclass
class Moto:
    endpoint: str
    process: subprocess.Popen

    def client(self, service: str):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def start_moto(log: Path, env: dict[str, str] | None = None) -> Moto:
    """A moto server in its own process (in-process moto would share state with other
    tests), with the emulator gaps of tests/infra/moto_launcher.py filled."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.infra.moto_launcher", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=env,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited; see {log}")
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1).read()
            return True
        except OSError:
            return False

    try:
        wait_until(answering, "moto_server", 30, interval=0.1)
    except AssertionError:
        process.kill()
        raise RuntimeError(f"moto_server did not start; see {log}") from None
    return Moto(endpoint, process)


def stop_moto(moto: Moto) -> None:
    moto.process.terminate()
    try:
        moto.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        moto.process.kill()


@pytest.fixture(scope="session")
def terraform() -> str:
    path = shutil.which("terraform")
    if path is None:
        pytest.skip("terraform is not installed: the infra/ checks need Terraform >= 1.11")
    return path


@pytest.fixture(scope="session")
def tf_env(tmp_path_factory: pytest.TempPathFactory, terraform: str) -> dict[str, str]:
    """Environment for Terraform, Chalice and boto3: fake credentials, one plugin
    cache for the session, the filesystem mirror when the machine has one."""
    home = tmp_path_factory.mktemp("terraform-cli")
    cache = home / "plugin-cache"
    cache.mkdir()
    mirror = provider_mirror()
    installation = (
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
        if mirror
        else ""  # a machine with internet uses the registry
    )
    rc = home / "terraformrc"
    rc.write_text(f'{installation}plugin_cache_dir = "{cache}"\n')
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "TF_")) or key == "AWS_CA_BUNDLE"
    }
    env.update(
        TF_CLI_CONFIG_FILE=str(rc),
        TF_IN_AUTOMATION="1",
        CHECKPOINT_DISABLE="1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def run(
    args: list[str], env: dict[str, str], cwd: Path, check: bool = True, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure the assertion message carries its output."""
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def copy_infra(target: Path) -> Path:
    """infra/*.tf in a scratch directory, reading the repository's tables.json."""
    target.mkdir(parents=True, exist_ok=True)
    for source in (ROOT / "infra").glob("*.tf"):
        shutil.copy2(source, target / source.name)
    (target / "terraform.tfvars.json").write_text(
        json.dumps({"tables_file": str(ROOT / "chalicelib" / "tables.json")})
    )
    return target


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    """A fresh moto server per test module."""
    server = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    stop_moto(server)


# What deploy.sh and cleanup.sh need of the repository (copy_repo).
APP_FILES = ("app.py", "requirements.txt", "chalicelib", "deploy.sh", "cleanup.sh", "Makefile")
EMULATED_CLOUDFRONT = Path(__file__).resolve().parent / "emulated_cloudfront_override.tf"


def copy_repo(target: Path) -> Path:
    """What deploy.sh needs, without infra/'s state or .chalice/deployed of this checkout."""
    skip = shutil.ignore_patterns("__pycache__", ".terraform*", "terraform.tfstate*", "combined")
    for name in APP_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=skip)
        else:
            shutil.copy2(source, target / name)
    shutil.copytree(ROOT / "infra", target / "infra", ignore=skip)
    shutil.copy2(EMULATED_CLOUDFRONT, target / "infra")
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
    """The module's own copy of the repository (its stage's Terraform state lives in it)."""
    return copy_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def env(tf_env: dict[str, str], moto: Moto) -> dict[str, str]:
    """Terraform's environment with every AWS call sent to the module's moto server."""
    return dict(tf_env, AWS_ENDPOINT_URL=moto.endpoint)


def deploy(repo: Path, env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    return run(["./deploy.sh", "--yes", "--skip-build", *options], env, repo, timeout=900)


def cleanup(repo: Path, env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    return run(["./cleanup.sh", "--yes", *options], env, repo, timeout=900)


def left_of_stage(moto: Moto, stage: str, outputs: dict, rest_api_id: str) -> dict[str, list]:
    """What the server still holds of one stage (names carry the stage; the REST API
    is named after the app and a distribution has no name: those are found by id)."""
    prefix = f"chalice-chat-{stage}"
    cloudfront = moto.client("cloudfront")
    names = {
        "tables": moto.client("dynamodb").list_tables()["TableNames"],
        "buckets": [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]],
        "parameters": [p["Name"] for p in moto.client("ssm").describe_parameters()["Parameters"]],
        "log groups": [
            g["logGroupName"] for g in moto.client("logs").describe_log_groups()["logGroups"]
        ],
        "functions": [
            f["FunctionName"] for f in moto.client("lambda").list_functions()["Functions"]
        ],
        "mappings": [
            m["FunctionArn"]
            for m in moto.client("lambda").list_event_source_mappings()["EventSourceMappings"]
        ],
        "roles": [r["RoleName"] for r in moto.client("iam").list_roles()["Roles"]],
        "WebSocket APIs": [a["Name"] for a in moto.client("apigatewayv2").get_apis()["Items"]],
        "origin access controls": [
            c["Name"]
            for c in cloudfront.list_origin_access_controls()["OriginAccessControlList"].get(
                "Items", []
            )
        ],
    }
    left = {kind: [name for name in found if prefix in name] for kind, found in names.items()}
    left["REST APIs"] = [
        api["id"] for api in moto.client("apigateway").get_rest_apis()["items"]
        if api["id"] == rest_api_id
    ]  # fmt: skip
    left["distributions"] = [
        d["Id"] for d in cloudfront.list_distributions()["DistributionList"].get("Items", [])
        if d["Id"] == outputs["distribution_id"]
    ]  # fmt: skip
    return {kind: found for kind, found in left.items() if found}
