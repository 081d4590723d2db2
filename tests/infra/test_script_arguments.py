"""deploy.sh and cleanup.sh refuse bad input and missing credentials before changing anything."""

from __future__ import annotations

import os

import pytest

from .conftest import ROOT, free_port, run

SCRIPTS = ["./deploy.sh", "./cleanup.sh"]


@pytest.fixture
def env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_lists_the_options(script: str, env: dict[str, str]) -> None:
    result = run([script, "--help"], env, ROOT)
    for option in ("--stage", "--region", "--yes", "--terraform"):
        assert option in result.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_unknown_option_is_refused(script: str, env: dict[str, str]) -> None:
    result = run([script, "--stgae", "dev"], env, ROOT, check=False)
    assert result.returncode == 2
    assert "unknown option '--stgae'" in result.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_stage_names_are_checked(script: str, env: dict[str, str]) -> None:
    result = run([script, "--stage", "Prod_1"], env, ROOT, check=False)
    assert result.returncode == 2
    assert "--stage must be 1-16 characters" in result.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_missing_credentials_stop_at_the_first_step(script: str, env: dict[str, str]) -> None:
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        # Nothing listens there: should a credential turn up, the call still fails.
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
    )
    result = run([script, "--yes", "--stage", "nocreds"], env, ROOT, check=False)
    assert result.returncode == 1
    assert "No usable AWS credentials" in result.stderr
    assert "step 1/" in result.stderr
    assert "[2/" not in result.stdout
