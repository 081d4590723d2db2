"""The deployment package ships bytecode that matches its sources and that the import uses.

One `chalice package` through infra/tools/packaging.py (as deploy.sh and
`--terraform` build theirs), extracted as Lambda extracts it; the checks are
on what Python does with it, not on timings.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.tools import packaging

from .conftest import ROOT

# In a child: import app.py and every chalicelib module from the task root and
# name each module of the task root whose source had to be compiled.
IMPORT_EVERYTHING = r"""
import importlib, importlib.machinery, json, os, pkgutil, sys
task = os.getcwd()
compiled = []
to_code = importlib.machinery.SourceFileLoader.source_to_code
def source_to_code(self, data, path, *args, **kwargs):
    if str(path).startswith(task):
        compiled.append(os.path.relpath(path, task))
    return to_code(self, data, path, *args, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = source_to_code
import app, chalicelib, jwt
names = [m.name for m in pkgutil.walk_packages(chalicelib.__path__, "chalicelib.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"compiled": compiled, "modules": len(names), "app": app.__cached__}))
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`chalice package --stage dev` of a copy of the project, through packaging.py."""
    root = tmp_path_factory.mktemp("package")
    project = root / "project"
    project.mkdir()
    for name in ("app.py", "requirements.txt"):
        shutil.copy2(ROOT / name, project / name)
    # chalicelib with a developer's stale bytecode in it, which must not ship.
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    stale = project / "chalicelib" / "__pycache__"
    stale.mkdir()
    (stale / f"settings.{sys.implementation.cache_tag}.pyc").write_bytes(b"not bytecode")
    (stale / "settings.cpython-39.pyc").write_bytes(b"another version")
    shutil.copytree(ROOT / ".chalice", project / ".chalice",
                    ignore=shutil.ignore_patterns("deployments", "deployed", "venv"))
    if (ROOT / ".chalice" / "deployments").is_dir():  # Lambda dependency zips: saves a pip run
        shutil.copytree(ROOT / ".chalice" / "deployments", project / ".chalice" / "deployments")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run(
        [sys.executable, "-m", "infra.tools.packaging", "package", "--stage", "dev",
         str(root / "out")],
        cwd=project, env=env, check=True, capture_output=True, text=True, timeout=600,
    )
    return root / "out" / "deployment.zip"


def extract(package: Path, into: Path) -> Path:
    """The package as Lambda lays it out: extracted, then read-only."""
    with zipfile.ZipFile(package) as archive:
        archive.extractall(into)
    for path in into.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    return into


def import_everything(task: Path) -> dict:
    """Import app.py and all of chalicelib in a fresh `python -B` from the task root."""
    env = {
        **os.environ, "PYTHONPATH": str(task), "JWT_SECRET": "x" * 32,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    finished = subprocess.run(
        [sys.executable, "-B", "-c", IMPORT_EVERYTHING], cwd=task, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


def test_every_module_of_the_package_has_checked_bytecode_of_its_source(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        sources = sorted(name for name in names if name.endswith(".py"))
        assert {"app.py", "chalice/app.py", "chalicelib/settings.py", "jwt/api_jwt.py"} <= set(
            sources
        )
        for source in sources:
            pyc = archive.read(packaging.pyc_name(source))
            assert pyc[:4] == importlib.util.MAGIC_NUMBER, source
            assert int.from_bytes(pyc[4:8], "little") == 0b11, source  # checked hash
            assert pyc[8:16] == importlib.util.source_hash(archive.read(source)), source
        compiled = {name for name in names if name.endswith(".pyc")}
    assert compiled == {packaging.pyc_name(source) for source in sources}  # the stale ones left


def test_a_cold_import_from_the_package_compiles_nothing(
    package: Path, tmp_path: Path
) -> None:
    result = import_everything(extract(package, tmp_path / "task"))
    assert result["modules"] > 30
    assert result["app"].endswith(f"__pycache__/app.{sys.implementation.cache_tag}.pyc")
    assert result["compiled"] == []


def test_a_source_changed_after_packaging_runs_as_changed(package: Path, tmp_path: Path) -> None:
    task = extract(package, tmp_path / "task")
    ids = task / "chalicelib" / "ids.py"
    ids.chmod(0o644)
    ids.write_text(ids.read_text() + "\nCHANGED_AFTER_PACKAGING = True\n")
    result = import_everything(task)
    assert result["compiled"] == ["chalicelib/ids.py"]  # its bytecode no longer matched


def test_compiling_twice_gives_the_same_package(package: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    shutil.copy2(package, again)
    assert packaging.compile_package(again) > 50
    with zipfile.ZipFile(package) as first, zipfile.ZipFile(again) as second:
        assert sorted(first.namelist()) == sorted(second.namelist())
        assert all(first.read(name) == second.read(name) for name in first.namelist())


def test_a_package_for_another_python_is_refused(tmp_path: Path) -> None:
    built: list[str] = []

    def build(self: object, project_dir: str, python_version: str) -> str:
        built.append(python_version)
        return str(tmp_path / "never.zip")

    compiling = packaging._compiling(build)
    with pytest.raises(packaging.BytecodeError, match=r"python3\.9"):
        compiling(object(), str(tmp_path), "python3.9")
    assert built == []
