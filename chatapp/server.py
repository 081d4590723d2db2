"""`chatapp serve`: the wiring, and the one aiohttp app that serves everything.

    /api/*       the REST API (chatapp.restapi): Chalice's LocalGateway, as `chalice local`
    /ws          the local WebSocket API (chatapp.gateway)
    /@connections/{id}                      the Management API (chatapp.management)
    /2015-03-31/functions/{name}/invocations  Lambda's Invoke (chatapp.invoke)
    /config.json {"apiUrl", "wsUrl"} for the host the browser used
    /            the built site (frontend/dist) or a page saying how to build it

Order matters: the database comes first (its stream ARN goes into the
environment), then the environment, then app.py is imported (settings are read
once per process), then the stream pollers and the HTTP server; once it
listens, the handlers' Management API and Lambda endpoints point at its port.
Both AWS stand-ins answer only requests signed with the local credentials.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import secrets
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from botocore.credentials import ReadOnlyCredentials

from chalicelib import lazy, settings
from chalicelib.connections_api import ENDPOINT_ENV
from chatapp import PROJECT_ROOT
from chatapp.dynamodb import DatabaseProcess
from chatapp.events import EventFactory
from chatapp.faults import Faults, from_environment
from chatapp.gateway import WebSocketGateway
from chatapp.invoke import PATH, LambdaService
from chatapp.management import AccountRate, ManagementAPI
from chatapp.metrics import LocalMetrics, StdoutTee
from chatapp.restapi import LocalOrigins, RestAPI
from chatapp.tables import (
    FAKE_CREDENTIALS,
    REGION,
    client,
    ensure_tables,
    forget_connections,
    stream_arns,
    table_names,
)

log = logging.getLogger("chatapp.server")

API_ID = "local"  # any id: the handlers reach the Management API through its endpoint variable
SITE_DIR = PROJECT_ROOT / "frontend" / "dist"
JWT_SECRET_NAME = "jwt-secret"
HANDLER_THREADS = 16  # concurrent Lambda invocations (WebSocket + REST)


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    rate_limit: int | None = None
    connections_rate: int = 0  # the account's @connections rate per second; 0: off
    connections_burst: int | None = None  # default: half the rate
    admins: tuple[str, ...] = ()  # ADMIN_USERS (--admin NAME, repeatable)
    dynamodb_endpoint: str | None = None
    data_dir: Path = PROJECT_ROOT / ".chatapp"
    verbose: bool = False
    json_logs: bool = False  # the handlers' log and metric lines as Lambda writes them


def make_private(data_dir: Path) -> None:
    """The data dir (tables, the signing secret) readable by its owner only: 0700, files 0600."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    for path in data_dir.iterdir():
        if path.is_file() and not path.is_symlink():
            path.chmod(0o600)
    os.umask(0o077)  # what this process (and the database child) writes later: 0600 too


def jwt_secret(data_dir: Path) -> str:
    """The local signing secret: generated once into the data dir (mode 0600), then reused."""
    path = data_dir / JWT_SECRET_NAME
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
        if not secret:
            raise RuntimeError(f"{path} is empty; delete it to generate a new secret") from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(descriptor, "w") as file:
        file.write(secret + "\n")
    return secret


def local_environment(
    options: ServeOptions, endpoint: str, stream_arns: dict[str, str], secret: str
) -> dict[str, str]:
    """The variables the handlers read, as a deployed stage would set them (plus fakes)."""
    environment = {
        settings.TABLES[logical]["name_env"]: name for logical, name in table_names().items()
    }
    environment.update(
        {
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": endpoint,
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # botocore would otherwise resolve account-based endpoints (docs/DESIGN.md).
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            # No profile, config or credentials file of the user's may leak in.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "JWT_SECRET": secret,
            **stream_arns,
            "WEBSOCKET_API_ID": API_ID,
            # chalicelib/observability.py: EMF metrics always (the local metrics page
            # reads them); JSON log lines only with --json-logs.
            "METRICS_NAMESPACE": "chalice-chat/local",
            "LOG_FORMAT": "json" if options.json_logs else "text",
        }
    )
    if options.rate_limit == 0:  # the per-user frame allowances off (load tests, fuzzing)
        environment["RATE_LIMIT_WRITES"] = environment["RATE_LIMIT_READS"] = "0"
        environment["RATE_LIMIT_INVALID"] = "0"
    elif options.rate_limit is not None:
        environment["RATE_LIMIT_WRITES"] = str(options.rate_limit)
    if options.admins:
        environment["ADMIN_USERS"] = ",".join(options.admins)
    return environment


def account_rate(options: ServeOptions) -> AccountRate | None:
    """The emulated account rate for the Management API, or None (off)."""
    if not options.connections_rate:
        return None
    burst = options.connections_burst or max(1, options.connections_rate // 2)
    log.info("Management API account rate: %d calls/s, burst %d", options.connections_rate, burst)
    return AccountRate(options.connections_rate, burst)


FAILED_STREAM_BATCHES = "failed-stream-batches.jsonl"


def failed_batches_file(data_dir: Path) -> Any:
    """The stream mappings' on-failure destination, locally: a line per batch given up."""
    path = data_dir / FAILED_STREAM_BATCHES

    def keep(record: dict[str, Any]) -> None:
        with path.open("a") as file:
            file.write(json.dumps(record, default=str) + "\n")
        log.warning("stream batch given up: kept in %s", path)

    return keep


def apply_environment(environment: dict[str, str]) -> None:
    """Set the variables in this process only (and drop any that would override them)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "JWT_SECRET_PARAMETER"):
        os.environ.pop(name, None)
    os.environ.update(environment)


def import_app(project_root: Path = PROJECT_ROOT) -> Any:
    """Import the project's app.py by path, as Lambda does, and return its Chalice app."""
    spec = importlib.util.spec_from_file_location("app", project_root / "app.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"no app.py in {project_root}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module.app


# -- HTTP -------------------------------------------------------------------------------

class AccessLogger(AbstractAccessLogger):
    """One line per request, without the query string (it carries tokens)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        # The handlers' own calls (a post per connection) would drown the rest.
        aws_call = request.path.startswith(("/@connections/", "/2015-03-31/"))
        (self.logger.debug if aws_call else self.logger.info)(
            "%s %s %s %d %.1fms",
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
        )


def local_endpoints(host: str, port: int) -> dict[str, str]:
    """The variables that point the handlers' Management API and Lambda clients here."""
    address = "127.0.0.1" if host in ("0.0.0.0", "") else host
    url = f"http://{address}:{port}"
    return {ENDPOINT_ENV: url, "AWS_ENDPOINT_URL_LAMBDA": url}


def build_web_app(
    rest_api: RestAPI,
    gateway: WebSocketGateway,
    management: ManagementAPI | None = None,
    functions: LambdaService | None = None,
    site_dir: Path = SITE_DIR,
    metrics: LocalMetrics | None = None,
) -> web.Application:
    """The aiohttp app: /api/*, /ws, the AWS stand-ins, /config.json, /_local and the site."""

    async def config(request: web.Request) -> web.Response:
        return web.json_response(
            {"apiUrl": f"http://{request.host}/api", "wsUrl": f"ws://{request.host}/ws"},
            headers={"Cache-Control": "no-store"},
        )

    async def site(request: web.Request) -> web.StreamResponse:
        index = site_dir / "index.html"
        if not index.exists():
            return web.Response(text=NO_SITE_PAGE, content_type="text/html")
        wanted = (site_dir / request.match_info["path"]).resolve()
        if wanted.is_file() and wanted.is_relative_to(site_dir.resolve()):
            return web.FileResponse(wanted)
        return web.FileResponse(index)  # client-side routes load the app

    async def connections(request: web.Request) -> web.Response:
        assert management is not None
        status, headers, body = management.answer(
            request.method, str(request.url), request.raw_path, request.headers,
            await request.read(),
        )
        return web.Response(status=status, headers=headers, body=body)

    async def invocations(request: web.Request) -> web.Response:
        assert functions is not None
        status, headers, body = functions.answer(
            request.match_info["name"], str(request.url), request.headers, await request.read()
        )
        return web.Response(status=status, headers=headers, body=body)

    web_app = web.Application(client_max_size=1024**2)
    web_app.router.add_route("*", "/api/{tail:.*}", rest_api.handle)
    web_app.router.add_get("/ws", gateway.handle)
    if management is not None:
        for method in ("POST", "DELETE", "GET"):
            web_app.router.add_route(method, "/@connections/{connection_id}", connections)
    if functions is not None:
        web_app.router.add_post(PATH.format(name="{name}"), invocations)
    web_app.router.add_get("/config.json", config)
    if metrics is not None:
        # The local metrics page: a stand-in for CloudWatch, never part of a deployed stage.
        async def metrics_page(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(METRICS_PAGE, headers=NO_STORE)

        async def metrics_figures(request: web.Request) -> web.Response:
            assert metrics is not None
            return web.json_response(metrics.snapshot(), headers=NO_STORE)

        web_app.router.add_get("/_local/metrics", metrics_page)
        web_app.router.add_get("/_local/metrics.json", metrics_figures)
    web_app.router.add_get("/{path:.*}", site)
    return web_app


METRICS_PAGE = Path(__file__).with_name("metrics_page.html")
NO_STORE = {"Cache-Control": "no-store"}

NO_SITE_PAGE = """<!doctype html><meta charset="utf-8"><title>chatapp</title>
<h1>The site is not built yet</h1>
<p>The API is up (<a href="/api/health">/api/health</a>, WebSocket at <code>/ws</code>).
Build the React site with <code>make run</code> (or <code>cd frontend &amp;&amp; npm ci &amp;&amp;
npm run build</code>) and reload.</p>"""


# -- running -----------------------------------------------------------------------------

def serve(options: ServeOptions) -> int:
    """Run everything until SIGINT / SIGTERM; returns the exit code."""
    try:
        return asyncio.run(_serve(options))
    except KeyboardInterrupt:
        return 0


async def _serve(options: ServeOptions) -> int:
    from chatapp.streams import StreamPoller, dynamodb_event_sources

    faults = from_environment()
    make_private(options.data_dir)
    secret = jwt_secret(options.data_dir)

    database: DatabaseProcess | None = None
    if options.dynamodb_endpoint:
        endpoint = options.dynamodb_endpoint.rstrip("/")
        try:
            created = ensure_tables(client(endpoint))
        except Exception as error:  # unreachable, not DynamoDB, refused credentials...
            print(f"chatapp serve: cannot use DynamoDB at {endpoint}: {error}", file=sys.stderr)
            return 1
        log.info("using DynamoDB at %s (created %d missing tables)", endpoint, len(created))
    else:
        database = DatabaseProcess(options.data_dir, options.verbose)
        try:
            endpoint = await asyncio.to_thread(database.start)
        except RuntimeError as error:
            print(f"chatapp serve: {error}", file=sys.stderr)
            return 1
        log.info("embedded DynamoDB at %s (pid %s)", endpoint, database.pid)

    forgotten = forget_connections(client(endpoint))
    if forgotten:
        log.info("forgot %d connections of the last run", forgotten)
    apply_environment(local_environment(options, endpoint, stream_arns(client(endpoint)), secret))
    lazy.reset()  # the handlers read the environment just set
    # What the handlers print goes where Lambda's stdout goes: EMF lines become metrics.
    metrics, stdout = LocalMetrics(), sys.stdout
    sys.stdout = StdoutTee(stdout, metrics, echo_metrics=options.json_logs)
    app = import_app()
    config = settings.get()

    executor = ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="lambda")
    domain = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
    origins = LocalOrigins()
    gateway = WebSocketGateway(
        app,
        EventFactory(API_ID, config.websocket_stage, domain),
        executor,
        idle_timeout=float(settings.LIMITS.idle_timeout_seconds),
        faults=faults,
        origin_allowed=origins.allows,
    )
    credentials = ReadOnlyCredentials(
        FAKE_CREDENTIALS["aws_access_key_id"], FAKE_CREDENTIALS["aws_secret_access_key"], None
    )
    management = ManagementAPI(
        gateway, credentials, REGION, account_rate(options), faults.delete_throttled
    )
    functions = LambdaService(
        app, executor, credentials, REGION, options.data_dir, faults.invocation_fails
    )

    pollers = []
    streams = client(endpoint, "dynamodbstreams")
    for source, entry_point in dynamodb_event_sources(app):
        pollers.append(
            StreamPoller(
                streams, source.stream_arn, entry_point, source.name, source.batch_size, REGION,
                on_failure=failed_batches_file(options.data_dir),
            ).start()
        )
    for source in app.event_sources:
        if not any(source is p_source for p_source, _ in dynamodb_event_sources(app)):
            log.warning("%s: %s is not emulated locally", source.name, type(source).__name__)

    web_app = build_web_app(
        RestAPI(app, executor, origins), gateway, management, functions, metrics=metrics
    )
    runner = web.AppRunner(
        web_app,
        access_log_class=AccessLogger,
        access_log=logging.getLogger("chatapp.http"),
        handle_signals=False,
        shutdown_timeout=5.0,
    )
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port)
    try:
        await site.start()
    except OSError as error:
        print(f"chatapp serve: cannot listen on {options.host}:{options.port}: {error}")
        await runner.cleanup()
        _stop_all(pollers, executor, database)
        return 1
    origins.serve(options.host, runner.addresses[0][1])
    # Nothing can reach a handler before the port listens; with --port 0 it is known now.
    os.environ.update(local_endpoints(options.host, runner.addresses[0][1]))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    url = f"http://{options.host}:{options.port}/"
    print(f"chatapp serving on {url}  (Ctrl-C to stop)", flush=True)
    if faults != Faults():
        log.warning("fault injection on: %s", faults)
    if not (SITE_DIR / "index.html").exists():
        log.info("frontend/dist not built: %s explains how", url)
    await stop.wait()

    log.info("shutting down")
    await gateway.close_all()
    await runner.cleanup()
    _stop_all(pollers, executor, database)
    sys.stdout = stdout
    log.info("stopped")
    return 0


def _stop_all(
    pollers: list, executor: ThreadPoolExecutor, database: DatabaseProcess | None
) -> None:
    for poller in pollers:
        poller.stop()
    executor.shutdown(wait=True, cancel_futures=True)
    if database is not None:
        database.stop()
