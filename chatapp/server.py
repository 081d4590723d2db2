"""`chatapp serve`: the wiring, and the one aiohttp app that serves everything.

    /api/*       the REST API (chatapp.restapi): Chalice's LocalGateway, as `chalice local`
    /ws          the local WebSocket API (chatapp.gateway)
    /@connections/{id}                      the Management API (chatapp.management)
    /2015-03-31/functions/{name}/invocations  Lambda's Invoke (chatapp.invoke)
    /config.json {"apiUrl", "wsUrl"} for the host the browser used
    /            the built site (frontend/dist) or a page saying how to build it

`LocalStack` is the wiring. Order matters: the database comes first (its
stream ARN goes into the environment), then the listening socket (the
handlers' Management API and Lambda endpoints point at its port), then the
environment, computed once, then app.py is imported here (its routes and event
sources) and in each Lambda instance (chatapp.instances: worker processes that
run the handlers, each given the environment), then the stream pollers and the
HTTP server. Both AWS stand-ins answer only requests signed with the local
credentials.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
from chatapp.instances import Instances, apply_environment, default_count, import_app
from chatapp.invoke import PATH, LambdaService
from chatapp.management import AccountRate, ManagementAPI
from chatapp.metrics import LocalMetrics, StdoutTee
from chatapp.restapi import LocalOrigins, RestAPI
from chatapp.stages import StageTrace
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
    instances: int = field(default_factory=default_count)  # Lambda instances (worker processes)


def make_private(data_dir: Path) -> None:
    """The data dir (tables, the signing secret) readable by its owner only: 0700, files 0600."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    for path in data_dir.iterdir():
        if path.is_file() and not path.is_symlink():
            path.chmod(0o600)
    os.umask(0o077)  # what this process (and the database child) writes later: 0600 too


def freeze_start_up_objects() -> None:
    """Take what start-up made (modules, botocore's and moto's models) out of the collector's walks.

    Those objects live as long as the process. A full collection walks every
    tracked object: 140,000 of them in the database process after start-up,
    about 100 ms during which no request is answered, and the server's
    50,000 took 35-45 ms. Frozen, each later collection walks only what came
    after. Collected first, so no garbage is frozen with them.
    """
    gc.collect()
    gc.freeze()


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
    report: Callable[[], dict[str, Any]] | None = None,
    usage: Any = None,
    stages: StageTrace | None = None,
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
        body = await request.read()
        started = time.thread_time()
        status, headers, body = management.answer(
            request.method, str(request.url), request.raw_path, request.headers, body
        )
        if usage is not None:
            usage.post(time.thread_time() - started)
        return web.Response(status=status, headers=headers, body=body)

    async def invocations(request: web.Request) -> web.Response:
        assert functions is not None
        # A RequestResponse invocation waits for an instance: never on the event loop.
        status, headers, body = await asyncio.to_thread(
            functions.answer,
            request.match_info["name"], str(request.url), request.headers, await request.read(),
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
    if report is not None:
        # Processes, CPU and AWS calls per function: what bench/load.py divides by messages.
        async def instances_report(request: web.Request) -> web.Response:
            assert report is not None
            return web.json_response(report(), headers=NO_STORE)

        web_app.router.add_get("/_local/instances.json", instances_report)
    if stages is not None:
        # Per-message stage instants (chatapp.stages): POST starts a trace, GET hands it over.
        async def start_stages(request: web.Request) -> web.Response:
            assert stages is not None
            stages.start()
            return web.json_response({"tracing": True}, headers=NO_STORE)

        async def take_stages(request: web.Request) -> web.Response:
            assert stages is not None
            return web.json_response(stages.take(), headers=NO_STORE)

        web_app.router.add_post("/_local/stages", start_stages)
        web_app.router.add_get("/_local/stages", take_stages)
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


class StartError(RuntimeError):
    """The stack could not start; the message says why (printed as it is)."""


class Usage:
    """CPU the server process spends answering the Management API (the handlers' posts)."""

    def __init__(self) -> None:
        self.posts = 0
        self.post_cpu_seconds = 0.0

    def post(self, cpu_seconds: float) -> None:
        self.posts += 1
        self.post_cpu_seconds += cpu_seconds


class LocalStack:
    """Everything `chatapp serve` runs, wired once.

    start(): the database, then the listening socket (its port may be 0), then
    the handlers' environment, computed once now that every address is known,
    applied in this process (app.py is imported here for its routes and event
    sources) and handed to each Lambda instance; then the instances, the stream
    pollers, the gateway, the AWS stand-ins and the HTTP server. stop() undoes
    it in reverse: sockets closed with 1001 (their $disconnect runs on the
    instances), the HTTP server, the pollers, the instances, the database.
    """

    def __init__(self, options: ServeOptions, faults: Faults) -> None:
        self.options = options
        self.faults = faults
        self.environment: dict[str, str] = {}
        self.port = 0
        self.database: DatabaseProcess | None = None
        self.instances: Instances | None = None
        self.gateway: WebSocketGateway | None = None
        self.pollers: list[Any] = []
        self.usage = Usage()
        self.stages = StageTrace()
        self._runner: web.AppRunner | None = None
        self._stdout: Any = None

    async def start(self) -> None:
        """Start everything, or raise StartError having stopped what had started."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        from chatapp.dynamodb import WritesWaiter
        from chatapp.streams import StreamPoller, dynamodb_event_sources, stream_table

        options = self.options
        make_private(options.data_dir)
        secret = jwt_secret(options.data_dir)
        instances = Instances(options.instances, self.faults.clock_skew_ms, options.verbose)
        instances.trace = self.stages
        self.instances = instances
        # The instances' processes come up while the database does; they get
        # their environment once it is known.
        spawning = asyncio.ensure_future(asyncio.to_thread(instances.spawn))
        try:
            endpoint = await self._database()
        finally:
            await spawning
        forgotten = forget_connections(client(endpoint))
        if forgotten:
            log.info("forgot %d connections of the last run", forgotten)
        try:
            listening = socket.create_server((options.host, options.port))
        except OSError as error:
            raise StartError(f"cannot listen on {options.host}:{options.port}: {error}") from None
        self.port = listening.getsockname()[1]
        self.environment = {
            **local_environment(options, endpoint, stream_arns(client(endpoint)), secret),
            **local_endpoints(options.host, self.port),
        }
        apply_environment(self.environment)
        lazy.reset()  # this process reads the environment just set
        # What the handlers print goes where Lambda's stdout goes: EMF lines become metrics.
        metrics, self._stdout = LocalMetrics(), sys.stdout
        sys.stdout = StdoutTee(self._stdout, metrics, echo_metrics=options.json_logs)
        app = import_app()
        config = settings.get()
        await asyncio.to_thread(instances.start, self.environment)

        domain = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
        origins = LocalOrigins()
        origins.serve(options.host, self.port)
        self.gateway = WebSocketGateway(
            app,
            EventFactory(API_ID, config.websocket_stage, domain),
            instances,
            idle_timeout=float(settings.LIMITS.idle_timeout_seconds),
            faults=self.faults,
            origin_allowed=origins.allows,
            trace=self.stages,
        )
        credentials = ReadOnlyCredentials(
            FAKE_CREDENTIALS["aws_access_key_id"], FAKE_CREDENTIALS["aws_secret_access_key"], None
        )
        management = ManagementAPI(
            self.gateway, credentials, REGION, account_rate(options), self.faults.delete_throttled
        )
        functions = LambdaService(
            instances, instances.waiters, credentials, REGION, options.data_dir,
            self.faults.invocation_fails,
        )
        streams = client(endpoint, "dynamodbstreams")
        sources = dynamodb_event_sources(app)
        for source, _ in sources:
            self.pollers.append(
                StreamPoller(
                    streams, source.stream_arn, self._stream_handler(source.name), source.name,
                    source.batch_size, REGION, on_failure=failed_batches_file(options.data_dir),
                    trace=self.stages,
                    # The embedded database wakes the poller on a write (a long poll).
                    writes=WritesWaiter(endpoint, stream_table(source.stream_arn))
                    if self.database is not None else None,
                ).start()
            )
        for source in app.event_sources:
            if not any(source is p_source for p_source, _ in sources):
                log.warning("%s: %s is not emulated locally", source.name, type(source).__name__)

        web_app = build_web_app(
            RestAPI(app, instances, origins), self.gateway, management, functions,
            metrics=metrics, report=self.report, usage=self.usage, stages=self.stages,
        )
        self._runner = web.AppRunner(
            web_app,
            access_log_class=AccessLogger,
            access_log=logging.getLogger("chatapp.http"),
            handle_signals=False,
            shutdown_timeout=5.0,
        )
        await self._runner.setup()
        await web.SockSite(self._runner, listening).start()

    async def _database(self) -> str:
        options = self.options
        if options.dynamodb_endpoint:
            endpoint = options.dynamodb_endpoint.rstrip("/")
            try:
                created = ensure_tables(client(endpoint))
            except Exception as error:  # unreachable, not DynamoDB, refused credentials...
                raise StartError(f"cannot use DynamoDB at {endpoint}: {error}") from None
            log.info("using DynamoDB at %s (created %d missing tables)", endpoint, len(created))
            return endpoint
        self.database = DatabaseProcess(options.data_dir, options.verbose)
        try:
            endpoint = await asyncio.to_thread(self.database.start)
        except RuntimeError as error:
            self.database = None
            raise StartError(str(error)) from None
        log.info("embedded DynamoDB at %s (pid %s)", endpoint, self.database.pid)
        return endpoint

    def _stream_handler(self, function_name: str) -> Any:
        instances = self.instances
        assert instances is not None

        def invoke(event: dict[str, Any], context: Any) -> Any:
            return instances.invoke(function_name, event, background=True)

        return invoke

    def report(self) -> dict[str, Any]:
        """Processes and their work, for /_local/instances.json (bench/load.py reads it)."""
        assert self.instances is not None
        return {
            "server": {"pid": os.getpid()},
            "database": {
                "pid": self.database.pid if self.database is not None else None,
                "endpoint": self.database.endpoint if self.database is not None else None,
            },
            **self.instances.report(),
            "pollers": {
                p.function_name: {
                    "cpuSeconds": round(p.cpu_seconds, 6), "invocations": p.invocations,
                    "records": p.records_done, "getRecords": p.reads,
                }
                for p in self.pollers
            },
            "posts": {
                "count": self.usage.posts,
                "cpuSeconds": round(self.usage.post_cpu_seconds, 6),
            },
        }

    async def stop(self) -> None:
        """Stop what was started, in reverse order."""
        if self.gateway is not None:
            await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        if self.instances is not None:
            await asyncio.to_thread(self.instances.stop)
            self.instances = None
        if self.database is not None:
            self.database.stop()
            self.database = None
        if self._stdout is not None:
            sys.stdout, self._stdout = self._stdout, None


async def _serve(options: ServeOptions) -> int:
    faults = from_environment()
    stack = LocalStack(options, faults)
    try:
        await stack.start()
    except StartError as error:
        print(f"chatapp serve: {error}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    freeze_start_up_objects()
    url = f"http://{options.host}:{options.port}/"
    print(f"chatapp serving on {url}  (Ctrl-C to stop)", flush=True)
    if faults != Faults():
        log.warning("fault injection on: %s", faults)
    if not (SITE_DIR / "index.html").exists():
        log.info("frontend/dist not built: %s explains how", url)
    await stop.wait()

    log.info("shutting down")
    await stack.stop()
    log.info("stopped")
    return 0
