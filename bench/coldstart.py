"""Cold start: a fresh interpreter imports app.py and answers its first request of each kind.

Each Lambda function of the app is its own container, so each kind runs in a
fresh `python` of its own, as Lambda's init + first invoke: login (the REST
handler), a sendMessage frame (the WebSocket message handler), a stream batch
(on_new_messages). DynamoDB is a moto server in this process on 127.0.0.1, so
the child pays only its own imports, client creation and the calls' round
trips on loopback. The floor, measured in the same run the same way, is what
every Python Lambda that talks to DynamoDB pays: `import boto3;
boto3.client('dynamodb')`. Median of 10 runs; target: at most 1.25 x the floor.

The children run as Lambda lays a function out: the deployment package built
as deploy.sh builds it (`chalice package` through infra/tools/packaging.py, so
with its .pyc files, in a temporary copy of the project; pip downloads bcrypt
and PyJWT for Lambda's platform), extracted as the task root, plus only what
the Python runtime ships (boto3, botocore and their dependencies) and the
Powertools layer, with `python -S -B`: nothing else of this venv (cryptography,
moto, ...) is importable and no .pyc is written (the task root is read-only).
The package's size is printed too; target: at most 1 MB. With --no-package (or
when the build fails) the children use the project and the whole venv instead,
which is slower than Lambda (PyJWT then imports cryptography).

Beside the totals it prints each kind's CPU by phase (import, DynamoDB client,
the rest of the first request) and, from --profile children run under cProfile
(default 3 of each kind), where the time goes: imports and compiles,
Powertools, PyJWT, botocore's data files, client creation and calls (endpoint
rules, serializing, signing, round trips, parsing). --source-only leaves the
package's .pyc files out, as a package was before it shipped them.

    .venv/bin/python bench/coldstart.py [--runs 10] [--profile 3] [--source-only] [--no-package]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import _common
from _common import PROJECT_ROOT, median, print_table

TARGET_RATIO = 1.25
TARGET_PACKAGE_BYTES = 1024 * 1024
CHILD_ROUNDS = "4"  # bcrypt cost in the child: the benchmark is about init, not hashing

# The child: its clock starts before any import; it prints one JSON line. Each phase's
# CPU is timed on its own: the import (the floor's `import boto3`; app.py's, boto3
# and Chalice included, with the init it does), the DynamoDB client
# (which every kind's first request makes: made just before it, the total is the
# same) and the rest of the first request. With BENCH_PROFILE set, the whole child
# runs under cProfile and writes its statistics there (the breakdown, --profile).
# PostToConnection is answered by a hook (the child's only network would be AWS).
CHILD = r"""
import os
profile = os.environ.get("BENCH_PROFILE")
if profile:
    import cProfile
    profiler = cProfile.Profile()
    profiler.enable()
import time
started, cpu_started = time.perf_counter(), time.process_time()
phases = {}


def phase(name, since):
    now = time.process_time()
    phases[name] = now - since
    return now


import json, sys
kind = sys.argv[1]


at = cpu_started


def finish(**measured):
    if profile:
        profiler.disable()
        profiler.dump_stats(profile)
    measured.update(cpu=time.process_time() - cpu_started, phases=phases)
    print(json.dumps(measured))


if kind == "floor":
    import boto3
    at = phase("import", at)
    boto3.client("dynamodb")
    phase("DynamoDB client", at)
    finish(init=time.perf_counter() - started, first=0.0)
    raise SystemExit
import importlib.util
spec = importlib.util.spec_from_file_location("app", os.path.join(os.getcwd(), "app.py"))
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
at = phase("import", at)
imported = time.perf_counter()
event = json.loads(os.environ["BENCH_EVENT"])
from chalicelib import store
store.client()
at = phase("DynamoDB client", at)


class Context:  # what Lambda passes; the stream handler names its sibling function from it
    function_name = "chalice-chat-bench-" + kind


handler = {"login": module.app, "message": module.message, "stream": module.on_new_messages}[kind]
result = handler(event, Context())
done = time.perf_counter()
phase("first request", at)
finish(init=imported - started, first=done - imported, result=result)
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_environment(endpoint: str, management_endpoint: str = "") -> dict[str, str]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("AWS_")
    }
    environment.update(_common.BENCH_ENVIRONMENT)
    environment.update(
        AWS_ENDPOINT_URL_DYNAMODB=endpoint,
        AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI=management_endpoint,
        BCRYPT_ROUNDS=CHILD_ROUNDS,
    )
    environment.pop("PYTHONDONTWRITEBYTECODE", None)  # .pyc files exist on Lambda too
    return environment


def rest_event(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """An API Gateway REST proxy event, as chalice's LocalGateway builds it."""
    return {
        "requestContext": {
            "httpMethod": "POST",
            "resourcePath": path,
            "identity": {"sourceIp": "127.0.0.1"},
            "path": path,
            "stage": "api",
        },
        "headers": {"content-type": "application/json"},
        "pathParameters": None,
        "stageVariables": None,
        "multiValueQueryStringParameters": None,
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def prepare(endpoint: str, runs: int) -> dict[str, list[dict[str, Any]]]:
    """Tables, a user, connections and a stream record on the moto server; one event per run."""
    import boto3

    from chalicelib import auth, clock, ids, lazy, order, protocol, settings, store
    from chalicelib.store.messages import Draft
    from chatapp.streams import lambda_record
    from chatapp.tables import ensure_tables, stream_arn
    from tests.support import events

    for name, value in child_environment(endpoint).items():
        if name.startswith("AWS_") or name in ("BCRYPT_ROUNDS",):
            os.environ[name] = value
    lazy.reset()
    dynamodb = store.client()
    ensure_tables(dynamodb)
    auth.signup(protocol.Credentials("coldstart", "correct horse battery"), "127.0.0.1")
    now = int(time.time())
    senders = [f"cold-sender-{n}=" for n in range(runs)]
    for connection in [*senders, "cold-reader-1=", "cold-reader-2="]:
        store.connections().put(connection, "coldstart", "cold", now, now + 3600)

    arn = stream_arn(dynamodb, settings.get().messages_table)
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint)
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST"
    )["ShardIterator"]
    now_ms = clock.now_ms()
    order.send(Draft("cold", "coldstart", "hello", ids.iso_utc(now_ms)), now)
    records = streams.get_records(ShardIterator=iterator)["Records"]
    stream_event = {"Records": [lambda_record(r, arn, "us-east-1") for r in records]}

    login = rest_event("/login", {"username": "coldstart", "password": "correct horse battery"})
    frame = json.dumps({"action": "sendMessage", "text": "cold start"})
    return {
        "floor": [{}] * runs,
        "login": [login] * runs,
        "message": [events.ws_event("$default", s, body=frame) for s in senders],
        "stream": [stream_event] * runs,
    }


# What the Lambda Python runtime provides besides the standard library.
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
# What the Powertools layer adds under /opt/python (infra/monitoring.tf): the same
# version from this venv.
LAYER_MODULES = ("aws_lambda_powertools", "typing_extensions.py")


def lambda_layout(
    package: Path, root: Path, source_only: bool = False
) -> tuple[Path, dict[str, str]]:
    """Extract the package as the task root and link the runtime's modules beside it.

    The package holds its modules' .pyc files (infra/tools/packaging.py); with
    `source_only` they are left out, as a package without them would be.
    Returns the task root (the children's cwd) and the environment.
    """
    import site

    task, runtime = root / "task", root / "runtime"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(task, [
            name for name in archive.namelist()
            if not (source_only and name.endswith(".pyc"))
        ])
    site_packages = Path(next(p for p in site.getsitepackages() if p.endswith("site-packages")))
    layer = root / "layer"  # Lambda's /opt/python, between the task root and the runtime
    for directory, names in ((runtime, RUNTIME_MODULES), (layer, LAYER_MODULES)):
        (directory / "__pycache__").mkdir(parents=True)
        for name in names:
            (directory / name).symlink_to(site_packages / name)
            # A single-file module's .pyc sits in site-packages/__pycache__: link it too,
            # as a package's own __pycache__ comes along with its directory (a pip-installed
            # layer, and the runtime's boto3, have both). Without it every child compiled
            # typing_extensions.py (~25 ms) and the floor six.py (~5 ms).
            if name.endswith(".py"):
                for compiled in (site_packages / "__pycache__").glob(f"{name[:-3]}.*.pyc"):
                    (directory / "__pycache__" / compiled.name).symlink_to(compiled)
    return task, {"PYTHONPATH": os.pathsep.join(map(str, (task, layer, runtime)))}


def run_child(
    kind: str, event: dict[str, Any], environment: dict[str, str], layout: Path | None,
    profile: Path | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    if profile is not None:
        environment = {**environment, "BENCH_PROFILE": str(profile)}
    command = [sys.executable, "-c", CHILD, kind]
    if layout is not None:
        # No site-packages: only the task root, the layer and the runtime. And no .pyc
        # written: Lambda's task root is read-only (the package brings its own).
        command[1:1] = ["-S", "-B"]
    finished = subprocess.run(
        command,
        cwd=layout or PROJECT_ROOT,
        env={**environment, "BENCH_EVENT": json.dumps(event)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{finished.stderr[-3000:]}")
    measured = json.loads(finished.stdout.strip().splitlines()[-1])
    measured["process"] = wall
    check(kind, measured.get("result"))
    return measured


def check(kind: str, result: Any) -> None:
    """A cold start that answered wrongly is not a cold start."""
    if kind == "login":
        assert result["statusCode"] == 200, result
    elif kind == "stream":
        assert result == {"batchItemFailures": []}, result


def measure(
    endpoint: str, runs: int, layout: tuple[Path, dict[str, str]] | None,
    profiles: int = 0, profile_dir: Path | None = None,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[Path]]]:
    """`runs` timed children of each kind, then `profiles` more under cProfile."""
    from aws_stub import AwsStub

    events = prepare(endpoint, runs + profiles)
    # PostToConnection answered at once by a stub in its own process (signature checked).
    stub = AwsStub(0.0, child_environment(endpoint))
    environment = child_environment(endpoint, stub.endpoint)
    if layout is not None:
        environment.update(layout[1])
    task = None if layout is None else layout[0]
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in events}
    profiled: dict[str, list[Path]] = {kind: [] for kind in events}
    try:
        for n in range(runs):  # interleaved, so a burst of load hits every kind alike
            for kind in events:
                results[kind].append(run_child(kind, events[kind][n], environment, task))
        for n in range(runs, runs + profiles):
            for kind in events:
                path = (profile_dir or Path(tempfile.gettempdir())) / f"{kind}-{n}.prof"
                run_child(kind, events[kind][n], environment, task, path)
                profiled[kind].append(path)
    finally:
        stub.close()
    return results, profiled


def build_package(into: Path) -> Path | None:
    """`chalice package` of a copy of the project; the deployment.zip, or None if it failed."""
    if not (PROJECT_ROOT / ".chalice" / "config.json").exists():
        print("no .chalice/config.json: no package")
        return None
    project = into / "project"
    project.mkdir()
    shutil.copytree(PROJECT_ROOT / "chalicelib", project / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PROJECT_ROOT / ".chalice", project / ".chalice",
                    ignore=shutil.ignore_patterns("deployments", "deployed", "venv"))
    for name in ("app.py", "requirements.txt"):
        shutil.copy(PROJECT_ROOT / name, project / name)
    finished = subprocess.run(
        [sys.executable, "-m", "infra.tools.packaging", "package", "--stage", "dev",
         str(into / "out")],
        cwd=project,
        env={**os.environ, **_common.BENCH_ENVIRONMENT, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True, text=True, timeout=600,
    )
    if finished.returncode != 0:
        print(f"chalice package failed:\n{finished.stdout[-2000:]}{finished.stderr[-2000:]}")
        return None
    return into / "out" / "deployment.zip"


def report_package(archive: Path) -> None:
    parts: dict[str, int] = {}
    with zipfile.ZipFile(archive) as package:
        for info in package.infolist():
            top = info.filename.split("/", 1)[0]
            parts[top] = parts.get(top, 0) + info.compress_size
    largest = sorted(parts.items(), key=lambda part: -part[1])[:6]
    size = archive.stat().st_size
    verdict = "met" if size <= TARGET_PACKAGE_BYTES else "MISSED"
    print_table(
        f"Deployment package (chalice package): {size / 1024:.0f} KB, target <= "
        f"{TARGET_PACKAGE_BYTES // 1024} KB: {verdict}",
        ["largest parts", "compressed KB"],
        [[name, f"{nbytes / 1024:.0f}"] for name, nbytes in largest],
    )


def report(results: dict[str, list[dict[str, Any]]], runs: int) -> float:
    floor = median([r["init"] for r in results["floor"]])
    floor_cpu = median([r["cpu"] for r in results["floor"]])
    rows = []
    worst = worst_cpu = 0.0
    names = {"floor": "floor: import boto3; client('dynamodb')", "login": "login (REST)",
             "message": "sendMessage (WebSocket)", "stream": "stream batch (fan-out)"}
    for kind, samples in results.items():
        init = median([s["init"] for s in samples])
        first = median([s["first"] for s in samples])
        total = median([s["init"] + s["first"] for s in samples])
        cpu = median([s["cpu"] for s in samples])
        ratio, cpu_ratio = total / floor, cpu / floor_cpu
        if kind != "floor":
            worst, worst_cpu = max(worst, ratio), max(worst_cpu, cpu_ratio)
        rows.append([names[kind], init, first, total, f"{ratio:.2f}x", cpu,
                     f"{cpu_ratio:.2f}x", "" if kind == "floor" else f"<= {TARGET_RATIO}x"])
    print_table(
        f"Cold start, median of {runs} fresh interpreters (seconds; DynamoDB = moto on loopback)",
        ["", "imports + init", "first request", "total", "vs floor", "CPU", "CPU vs floor",
         "target"],
        rows,
    )
    for label, value in (("wall", worst), ("CPU", worst_cpu)):
        verdict = "met" if value <= TARGET_RATIO else "MISSED"
        print(f"target: every kind <= {TARGET_RATIO} x floor, {label}: {verdict} "
              f"(worst {value:.2f}x)")
    return worst


PHASES = ("import", "DynamoDB client", "first request")


def report_phases(results: dict[str, list[dict[str, Any]]]) -> None:
    """Where each kind's CPU goes, phase by phase (medians), beside the floor's."""
    rows = []
    for kind, samples in results.items():
        cells = []
        for name in PHASES:
            values = [s["phases"][name] for s in samples if name in s["phases"]]
            cells.append(f"{median(values) * 1000:.0f}" if values else "")
        rows.append([kind, *cells, f"{median([s['cpu'] for s in samples]) * 1000:.0f}"])
    print_table(
        "CPU by phase (ms, median; the import: the floor's `import boto3`, app.py's with "
        "boto3, Chalice and chalicelib)",
        ["", *PHASES, "total"], rows,
    )


# What the profiled children spend in: (row, a regular expression for the file, the
# function). Cumulative, so the rows overlap: an import inside the first request
# counts under "imports" and under its own row.
BREAKDOWN = (
    ("imports, all (with their compiles)", r"<frozen importlib._bootstrap>$", "_find_and_load"),
    ("  compiling source (no .pyc)", r"<frozen importlib._bootstrap_external>$",
     "source_to_code"),
    ("  app.py's import (boto3, Chalice, chalicelib)", r"(?<!chalice)/app\.py$", "<module>"),
    ("    Chalice (chalice.app)", r"/chalice/app\.py$", "<module>"),
    ("  Powertools", r"/aws_lambda_powertools/__init__\.py$", "<module>"),
    ("  PyJWT", r"/jwt/__init__\.py$", "<module>"),
    ("botocore: JSON data files loaded", r"/botocore/loaders\.py$", "load_data_with_path"),
    ("botocore: client creation", r"/botocore/session\.py$", "create_client"),
    ("botocore: calls (all, with their round trips)", r"/botocore/client\.py$",
     "_make_api_call"),
    ("  endpoint rules resolved", r"/botocore/regions\.py$", "construct_endpoint"),
    ("  requests serialized", r"/botocore/serialize\.py$", "serialize_to_request"),
    ("  parameters validated", r"/botocore/validate\.py$", "validate"),
    ("  requests signed", r"/botocore/auth\.py$", "add_auth"),
    ("  HTTP round trips (loopback)", r"/botocore/httpsession\.py$", "send"),
    ("  responses parsed", r"/botocore/parsers\.py$", "parse"),
    ("Management API posts", r"/chalicelib/connections_api\.py$", "post"),
    ("bcrypt (4 rounds here)", r"bcrypt", "checkpw"),
    ("metrics and logs written (flush)", r"/chalicelib/observability\.py$", "flush"),
)


def _matches(key: tuple[str, int, str], pattern: str, function: str) -> bool:
    """A profile entry of `function` in a file matching `pattern` (a built-in: by its name)."""
    file, _, name = key
    if file == "~":
        return re.search(pattern, name) is not None and function in name
    return name == function and re.search(pattern, file) is not None


def report_breakdown(profiled: dict[str, list[Path]]) -> None:
    """The profiled children's time in each part of the cold start (ms under cProfile)."""
    import pstats

    kinds = [kind for kind, paths in profiled.items() if paths]
    if not kinds:
        return
    found: dict[str, dict[str, float]] = {}
    for kind in kinds:
        per_run: dict[str, list[float]] = {label: [] for label, _, _ in BREAKDOWN}
        totals = []
        for path in profiled[kind]:
            stats: Any = pstats.Stats(str(path))
            totals.append(stats.total_tt)
            for label, filename, function in BREAKDOWN:
                per_run[label].append(sum(
                    cumulative for key, (_, _, _, cumulative, _) in stats.stats.items()
                    if _matches(key, filename, function)
                ))
        found[kind] = {label: median(values) * 1000 for label, values in per_run.items()}
        found[kind]["total under the profiler"] = median(totals) * 1000
    labels = [label for label, _, _ in BREAKDOWN] + ["total under the profiler"]
    print_table(
        f"Breakdown under cProfile (ms, median of {len(profiled[kinds[0]])}; "
        "cumulative, so indented rows are part of the row above; the profiler slows "
        "Python code ~1.5-2x)",
        ["", *kinds],
        [[label, *(f"{found[kind][label]:.0f}" for kind in kinds)] for label in labels],
    )


def chart(results: dict[str, list[dict[str, Any]]]) -> None:
    plt = _common.pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    kinds = list(results)
    init = [median([s["init"] for s in results[k]]) * 1000 for k in kinds]
    first = [median([s["first"] for s in results[k]]) * 1000 for k in kinds]
    axes.bar(kinds, init, label="imports + init")
    axes.bar(kinds, first, bottom=init, label="first request")
    axes.axhline(init[0] * TARGET_RATIO, color="red", linestyle=":", label="1.25 x floor")
    axes.set(ylabel="milliseconds (median)", title="Cold start per Lambda function")
    axes.legend()
    _common.save_chart(figure, "coldstart")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-package", action="store_true", help="skip `chalice package`")
    parser.add_argument(
        "--source-only", action="store_true",
        help="leave the package's .pyc files out of the task root (as before they shipped)",
    )
    parser.add_argument(
        "--profile", type=int, default=3,
        help="children of each kind run under cProfile for the breakdown (default 3)",
    )
    args = parser.parse_args()

    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    with tempfile.TemporaryDirectory() as temporary:
        archive = None if args.no_package else build_package(Path(temporary))
        layout = None if archive is None else lambda_layout(
            archive, Path(temporary), args.source_only
        )
        print("children run from", "the extracted package (python -S)" if layout
              else "the project with the whole venv",
              "without its .pyc files" if args.source_only else "")
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            results, profiled = measure(
                f"http://127.0.0.1:{port}", args.runs, layout, args.profile, Path(temporary)
            )
        finally:
            server.stop()
        print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        report(results, args.runs)
        report_phases(results)
        report_breakdown(profiled)
        chart(results)
        if archive is not None:
            report_package(archive)


if __name__ == "__main__":
    main()
