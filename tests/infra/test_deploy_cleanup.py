"""cleanup.sh end to end against a moto server, in a copy of the repo: it removes
every resource of a deployed stage, a second run finds nothing to do, and
deploying again after it works.

Its own module (its own moto server, stage and xdist worker), beside
test_deploy_scripts.py, which checks what `./deploy.sh` deployed: the chain
here (deploy, cleanup, deploy) is the longest of the deploy modules, and split
from the checks it runs beside them instead of after them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.tools import chalice_state

from .conftest import Moto, cleanup, deploy, left_of_stage, run

# A script run may take minutes on a busy machine: run()'s own limit, not pytest-timeout's 300 s.
pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]

STAGE = "dev"


@pytest.fixture(scope="module")
def outputs(repo: Path, env: dict[str, str], terraform: str) -> dict:
    """The outputs of one `./deploy.sh --yes --skip-build` run."""
    assert "[11/11] Done" in deploy(repo, env).stdout
    result = run([terraform, "-chdir=infra", "output", "-json"], env, repo)
    return {name: output["value"] for name, output in json.loads(result.stdout).items()}


@pytest.fixture(scope="module")
def state(outputs: dict, repo: Path) -> chalice_state.Deployed:
    recorded = chalice_state.read(STAGE, repo / ".chalice")
    assert recorded is not None
    return recorded


@pytest.fixture(scope="module")
def cleaned(state: chalice_state.Deployed, repo: Path, env: dict[str, str]):
    """One `./cleanup.sh --yes` run of the deployed stage."""
    return cleanup(repo, env)


def test_cleanup_leaves_nothing_of_the_stage(
    moto: Moto, cleaned, repo: Path, outputs: dict, state: chalice_state.Deployed
) -> None:
    assert "Destroy complete!" in cleaned.stdout
    assert "5 objects deleted" in cleaned.stdout
    assert left_of_stage(moto, STAGE, outputs, state.rest_api_id) == {}
    assert not (repo / ".chalice" / "deployed" / f"{STAGE}.json").exists()


def test_cleanup_is_safe_to_rerun(cleaned, repo: Path, env: dict[str, str]) -> None:
    again = cleanup(repo, env)
    assert "nothing to destroy" in again.stdout


def test_deploy_after_cleanup_starts_afresh(cleaned, repo: Path, env: dict[str, str]) -> None:
    """chalice delete used to leave {"resources": []}, and the next deploy failed at step 5."""
    again = deploy(repo, env)
    assert "[11/11] Done" in again.stdout
    assert chalice_state.read(STAGE, repo / ".chalice") is not None
