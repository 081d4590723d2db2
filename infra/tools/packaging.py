"""The deployment package ships compiled bytecode: `python -m infra.tools.packaging deploy ...`.

Lambda's task root (/var/task) is read-only, so a package without `.pyc` files
compiles every module of app.py, chalicelib, Chalice's app.py and the vendored
dependencies on each cold start (about 50 ms of CPU, bench/coldstart.py), and
cannot keep the result. This module runs the Chalice CLI (`deploy`, `package`,
any command) with every deployment package it builds rewritten by
`compile_package`: each `.py` gets its `__pycache__/<name>.<cache tag>.pyc`
beside it, and any other `.pyc` (a developer's local `__pycache__`, which
Chalice zips with chalicelib) is left out.

The `.pyc` files are checked-hash ones (PEP 552): the import hashes the source
and compares it with the hash in the file, so neither zip extraction's
timestamps nor a stale file can make Python run code other than the source
beside it; a mismatch only costs the compile the package had before. They are
compiled by this interpreter, which is also the one Chalice takes the Lambda
runtime from (python3.X of the interpreter that runs it): a package for another
version is refused rather than shipped with bytecode its runtime ignores.

Leans on Chalice's internals: written for Chalice 1.34 (the packagers'
`create_deployment_package(project_dir, python_version) -> zip path`).
"""

from __future__ import annotations

import functools
import importlib.util
import marshal
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

CHALICE_VERSION = "1.34"
TASK_ROOT = "/var/task"  # where Lambda extracts the package: the code objects' file names
CACHE = "__pycache__"
CHECKED_HASH = 0b11  # PEP 552 flags: hash-based, check the source


class BytecodeError(Exception):
    """The package cannot get bytecode its Lambda runtime would use."""


def runtime() -> str:
    """The Lambda runtime this interpreter's bytecode is for (Chalice picks the same)."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def pyc_name(source: str) -> str:
    """Where the import system looks for a source's bytecode: `a/__pycache__/b.cpython-311.pyc`."""
    path = PurePosixPath(source)
    tag = sys.implementation.cache_tag
    return str(path.parent / CACHE / f"{path.stem}.{tag}.pyc").removeprefix("./")


def pyc_header(source: bytes) -> bytes:
    """The 16 bytes that open a checked-hash .pyc of `source` (PEP 552)."""
    return (
        importlib.util.MAGIC_NUMBER
        + CHECKED_HASH.to_bytes(4, "little")
        + importlib.util.source_hash(source)
    )


def pyc_bytes(source: bytes, filename: str) -> bytes:
    """A checked-hash .pyc of `source`, as py_compile writes one."""
    return pyc_header(source) + marshal.dumps(compile(source, filename, "exec", dont_inherit=True))


def compile_package(archive: Path) -> int:
    """Rewrite a deployment zip with a checked-hash .pyc for every .py; returns how many.

    Other bytecode in the zip (a developer's `__pycache__`, another Python's)
    is dropped; a .pyc this function made before is kept as it is when it still
    matches its source, so running it twice gives the same bytes (marshal's
    output depends on the compiling process, and a cached package Chalice
    reuses keeps its CodeSha256). A source that does not compile (a vendored
    file for another Python) keeps no .pyc.
    """
    temporary = archive.with_name(archive.name + ".compiling")
    compiled = 0
    with zipfile.ZipFile(archive) as original, zipfile.ZipFile(
        temporary, "w", zipfile.ZIP_DEFLATED
    ) as rewritten:
        present = set(original.namelist())
        for info in original.infolist():
            if info.filename.endswith(".pyc") or f"{CACHE}/" in info.filename:
                continue
            data = original.read(info)
            rewritten.writestr(info, data)
            if not info.filename.endswith(".py"):
                continue
            name = pyc_name(info.filename)
            bytecode = original.read(name) if name in present else b""
            if not bytecode.startswith(pyc_header(data)):
                try:
                    bytecode = pyc_bytes(data, f"{TASK_ROOT}/{info.filename}")
                except (SyntaxError, ValueError):
                    continue
            entry = zipfile.ZipInfo(name, date_time=info.date_time)
            entry.external_attr = info.external_attr
            rewritten.writestr(entry, bytecode, zipfile.ZIP_DEFLATED)
            compiled += 1
    os.replace(temporary, archive)
    return compiled


def _compiling(build: Callable[..., str]) -> Callable[..., str]:
    @functools.wraps(build)
    def create_deployment_package(self: Any, project_dir: str, python_version: str) -> str:
        if python_version != runtime():
            raise BytecodeError(
                f"the package is for {python_version} but this is {runtime()}: "
                "run Chalice with the runtime's Python"
            )
        archive = build(self, project_dir, python_version)
        count = compile_package(Path(archive))
        self._ui.write(f"Compiled {count} modules into the package ({runtime()}).\n")
        return archive

    create_deployment_package.compiles = True  # type: ignore[attr-defined]
    return create_deployment_package


def install() -> None:
    """Make every Chalice packager compile the packages it builds (once per process)."""
    import chalice
    from chalice.deploy import packager

    if not chalice.__version__.startswith(CHALICE_VERSION + "."):
        raise BytecodeError(
            f"infra/tools/packaging.py is written for Chalice {CHALICE_VERSION}, "
            f"not {chalice.__version__}: check the packagers' create_deployment_package"
        )
    for kind in (
        packager.LambdaDeploymentPackager,
        packager.AppOnlyDeploymentPackager,
        packager.LayerDeploymentPackager,
    ):
        build = kind.create_deployment_package
        if not getattr(build, "compiles", False):
            kind.create_deployment_package = _compiling(build)  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    """The Chalice CLI with compiled packages: the arguments are Chalice's own."""
    from chalice.cli import main as chalice_main

    install()
    sys.argv = ["chalice", *(sys.argv[1:] if argv is None else argv)]
    return chalice_main() or 0


if __name__ == "__main__":
    sys.exit(main())
