"""The `chatapp` command: `chatapp serve` (the whole stack) and `chatapp db` (DynamoDB only)."""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from chatapp import PROJECT_ROOT

DEFAULT_DATA_DIR = PROJECT_ROOT / ".chatapp"


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value}")
    return port


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {value}")
    return number


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {value}")
    return number


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="chatapp", description="Run the Chalice chat locally, with no AWS account."
    )
    commands = top.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve", help="REST, WebSockets, stream fan-out, the site and DynamoDB on one port"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument(
        "--rate-limit",
        type=_non_negative,
        metavar="N",
        help="sendMessage/editMessage/deleteMessage per user per window (default: limits.json);"
        " 0 turns off the per-user frame allowances: writes, reads and invalid frames",
    )
    serve.add_argument(
        "--connections-rate",
        type=_non_negative,
        default=0,
        metavar="N",
        help="emulate the account's request rate: at most N Management API calls per second"
        " across all connections, 429 beyond it (default 0: off; AWS: 10000)",
    )
    serve.add_argument(
        "--connections-burst",
        type=_non_negative,
        metavar="N",
        help="the burst of --connections-rate (default: half the rate; AWS: 5000)",
    )
    serve.add_argument(
        "--admin",
        action="append",
        default=[],
        metavar="NAME",
        help="a username who moderates every public and private room (ADMIN_USERS); repeatable",
    )
    serve.add_argument(
        "--dynamodb-endpoint",
        metavar="URL",
        help="use this DynamoDB (e.g. DynamoDB Local) instead of the embedded one",
    )
    serve.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, metavar="DIR")
    serve.add_argument(
        "--instances",
        type=_positive,
        metavar="N",
        help="Lambda instances: worker processes that run the handlers, one invocation at a"
        " time each (default: the CPU count, at least 2)",
    )
    serve.add_argument("--verbose", action="store_true", help="log every event and call")
    serve.add_argument(
        "--json-logs",
        action="store_true",
        help="print the handlers' log lines as JSON and their EMF metric lines, as Lambda does",
    )

    db = commands.add_parser("db", help="only the embedded DynamoDB with its tables")
    db.add_argument("--host", default="127.0.0.1")
    db.add_argument("--port", type=_port, default=8001)
    db.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, metavar="DIR")
    db.add_argument("--verbose", action="store_true")
    # Used by `chatapp serve`, which runs the database as its child process.
    db.add_argument("--exit-with-stdin", action="store_true", help=argparse.SUPPRESS)
    db.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    return top


# A JWT, a Bearer credential, or a token field or parameter: never written to a log.
_SECRETS = re.compile(
    r"eyJ[\w-]*\.[\w-]*\.[\w-]*"
    r"|(?<=Bearer )[^\s'\",]+"
    r"|(?<=token=)[^\s&'\",]+"
    r"|(?<=token['\"]: ['\"])[^'\"]+"  # token, refreshToken, deviceToken
    r"|(?<=token['\"]:['\"])[^'\"]+",
    re.IGNORECASE,
)


class RedactTokens(logging.Filter):
    """Replaces tokens in every log line (--verbose logs whole events)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRETS.sub("[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s.%(msecs)03d %(name)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stdout,
        force=True,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactTokens())
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)


def run_db(args: argparse.Namespace) -> int:
    """`chatapp db`: serve the embedded DynamoDB until Ctrl-C / SIGTERM / stdin closes."""
    from chatapp.dynamodb import EmbeddedDynamoDB
    from chatapp.faults import from_environment
    from chatapp.server import freeze_start_up_objects, make_private
    from chatapp.tables import client, stream_arn, table_names

    make_private(args.data_dir)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.exit_with_stdin:
        # Ctrl-C reaches the whole process group; the parent decides when we stop,
        # after its connections' $disconnect handlers have used the database.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        db = EmbeddedDynamoDB(args.host, args.port, args.data_dir, from_environment()).start()
    except RuntimeError as error:
        print(f"chatapp db: {error}", file=sys.stderr)
        return 1
    if args.exit_with_stdin:
        # The parent holds our stdin open; EOF means it is gone (even after SIGKILL).
        def stop_at_eof() -> None:
            sys.stdin.buffer.read()
            stop.set()

        threading.Thread(target=stop_at_eof, daemon=True).start()
    freeze_start_up_objects()
    if args.ready_fd is not None:
        os.write(args.ready_fd, f"{db.endpoint}\n".encode())
        os.close(args.ready_fd)
    else:
        ddb = client(db.endpoint)
        print(f"DynamoDB (moto) at {db.endpoint}, data in {args.data_dir}")
        for logical, name in table_names().items():
            print(f"  {logical:12} {name}")
        messages = table_names()["messages"]
        print(f"  messages stream: {stream_arn(ddb, messages)}")
        from chatapp.server import jwt_secret

        secret_file = args.data_dir / "jwt-secret"
        jwt_secret(args.data_dir)  # the one `chatapp serve` uses: tokens work with both
        print("REST routes against it, in another shell (no WebSockets, no stream):")
        print(
            f"  AWS_ENDPOINT_URL_DYNAMODB={db.endpoint} AWS_ACCESS_KEY_ID=local"
            " AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1"
            f' JWT_SECRET="$(cat {secret_file})" .venv/bin/chalice local --stage local'
        )
        print("Ctrl-C to stop (the tables are saved to the data dir).")
    stop.wait()
    db.stop()
    # The snapshot is on disk and the lock released: skip tearing down moto's
    # thousands of objects, which takes a second or more for nothing.
    sys.stdout.flush()
    os._exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging(args.verbose)
    if args.command == "db":
        return run_db(args)
    from chatapp.instances import default_count
    from chatapp.server import ServeOptions, serve

    return serve(
        ServeOptions(
            instances=args.instances or default_count(),
            host=args.host,
            port=args.port,
            rate_limit=args.rate_limit,
            connections_rate=args.connections_rate,
            connections_burst=args.connections_burst,
            admins=tuple(args.admin),
            dynamodb_endpoint=args.dynamodb_endpoint,
            data_dir=args.data_dir.resolve(),
            verbose=args.verbose,
            json_logs=args.json_logs,
        )
    )
