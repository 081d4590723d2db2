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
by `chalice package` (in a temporary copy of the project; pip downloads bcrypt
and PyJWT for Lambda's platform), extracted as the task root, plus only what
the Python runtime ships (boto3, botocore and their dependencies) and the
Powertools layer, with
`python -S` so nothing else of this venv (cryptography, moto, ...) is
importable. The package's size is printed too; target: at most 1 MB. With
--no-package (or when the build fails) the children use the project and the
whole venv instead, which is slower than Lambda (PyJWT then imports
cryptography).

    .venv/bin/python bench/coldstart.py [--runs 10] [--no-package]
"""

from __future__ import annotations

import argparse
import json
import os
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

# The child: its clock starts before any import; it prints one JSON line.
# PostToConnection is answered by a hook (the child's only network would be AWS).
CHILD = r"""
import time
started, cpu_started = time.perf_counter(), time.process_time()
import json, os, sys
kind = sys.argv[1]
if kind == "floor":
    import boto3
    boto3.client("dynamodb")
    print(json.dumps({"init": time.perf_counter() - started, "first": 0.0,
                      "cpu": time.process_time() - cpu_started}))
    raise SystemExit
import importlib.util
spec = importlib.util.spec_from_file_location("app", os.path.join(os.getcwd(), "app.py"))
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
imported = time.perf_counter()
event = json.loads(os.environ["BENCH_EVENT"])


class Context:  # what Lambda passes; the stream handler names its sibling function from it
    function_name = "chalice-chat-bench-" + kind


handler = {"login": module.app, "message": module.message, "stream": module.on_new_messages}[kind]
result = handler(event, Context())
done = time.perf_counter()
print(json.dumps({"init": imported - started, "first": done - imported,
                  "cpu": time.process_time() - cpu_started, "result": result}))
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
    package: Path, root: Path, compiled: bool = False
) -> tuple[Path, dict[str, str]]:
    """Extract the package as the task root and link the runtime's modules beside it.

    With `compiled`, the task root gets its .pyc files, as a package that ships
    them would. Returns the task root (the children's cwd) and the environment.
    """
    import compileall
    import site

    task, runtime = root / "task", root / "runtime"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(task)
    if compiled:
        compileall.compile_dir(task, quiet=1)
    runtime.mkdir()
    site_packages = Path(next(p for p in site.getsitepackages() if p.endswith("site-packages")))
    for name in RUNTIME_MODULES:
        (runtime / name).symlink_to(site_packages / name)
    layer = root / "layer"  # Lambda's /opt/python, between the task root and the runtime
    (layer / "__pycache__").mkdir(parents=True)
    for name in LAYER_MODULES:
        (layer / name).symlink_to(site_packages / name)
        # A single-file module's .pyc sits in site-packages/__pycache__: link it too, as
        # the package's own __pycache__ comes along with its directory (a pip-installed
        # layer has both). Without it every child compiled typing_extensions.py (~25 ms).
        if name.endswith(".py"):
            for compiled in (site_packages / "__pycache__").glob(f"{name[:-3]}.*.pyc"):
                (layer / "__pycache__" / compiled.name).symlink_to(compiled)
    return task, {"PYTHONPATH": os.pathsep.join(map(str, (task, layer, runtime)))}


def run_child(
    kind: str, event: dict[str, Any], environment: dict[str, str], layout: Path | None
) -> dict[str, Any]:
    started = time.perf_counter()
    command = [sys.executable, "-c", CHILD, kind]
    if layout is not None:
        # No site-packages: only the task root and the runtime. And no .pyc written:
        # Lambda's task root is read-only, so a cold start compiles the package again.
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
    endpoint: str, runs: int, layout: tuple[Path, dict[str, str]] | None
) -> dict[str, list[dict[str, Any]]]:
    from aws_stub import AwsStub

    events = prepare(endpoint, runs)
    # PostToConnection answered at once by a stub in its own process (signature checked).
    stub = AwsStub(0.0, child_environment(endpoint))
    environment = child_environment(endpoint, stub.endpoint)
    if layout is not None:
        environment.update(layout[1])
    task = None if layout is None else layout[0]
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in events}
    try:
        for n in range(runs):  # interleaved, so a burst of load hits every kind alike
            for kind in events:
                results[kind].append(run_child(kind, events[kind][n], environment, task))
    finally:
        stub.close()
    return results


def build_package(into: Path) -> Path | None:
    """`chalice package` of a copy of the project; the deployment.zip, or None if it failed."""
    chalice = Path(sys.executable).with_name("chalice")
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
        [str(chalice), "package", "--stage", "dev", str(into / "out")],
        cwd=project, env={**os.environ, **_common.BENCH_ENVIRONMENT},
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
        "--compiled", action="store_true",
        help="ship .pyc files in the task root (chalice package does not)",
    )
    args = parser.parse_args()

    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    with tempfile.TemporaryDirectory() as temporary:
        archive = None if args.no_package else build_package(Path(temporary))
        layout = None if archive is None else lambda_layout(
            archive, Path(temporary), args.compiled
        )
        print("children run from", "the extracted package (python -S)" if layout
              else "the project with the whole venv",
              "with .pyc files" if args.compiled else "")
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            results = measure(f"http://127.0.0.1:{port}", args.runs, layout)
        finally:
            server.stop()
        print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        report(results, args.runs)
        chart(results)
        if archive is not None:
            report_package(archive)


if __name__ == "__main__":
    main()
