"""Offline infrastructure checks: Terraform (provider from the machine's mirror
when there is one), a moto server on 127.0.0.1 standing in for AWS, and copies of
the repository so no test touches infra/'s real state or .chalice/deployed/."""

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


class Background:
    """A command running beside the test (its output in files: pipes would fill up)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.args, self.stdout, self.stderr = args, log.with_suffix(".out"), log.with_suffix(".err")
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=err)

    def result(self, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        """Wait for it; fails like `run` when it failed."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        result = subprocess.CompletedProcess(
            self.args, code, self.stdout.read_text(), self.stderr.read_text()
        )
        if code != 0:
            raise AssertionError(
                f"{' '.join(self.args)} exited {code}\n"
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
