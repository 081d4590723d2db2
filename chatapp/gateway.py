"""The API Gateway WebSocket API, locally.

Each connection's upgrade, frames and close become API-Gateway-shaped `$connect`,
`$default` and `$disconnect` events, passed to the Chalice app's own Lambda
entry points (found in `app.websocket_handlers`, never by name) on the
Lambda instances (chatapp.instances), as Lambda's concurrency would run them.
What API Gateway does, this does:

- a `$connect` answer other than 2xx refuses the upgrade with that status
  (an exception in the handler: 500);
- frames go to `$default`; an exception there sends the client API Gateway's
  `{"message": "Internal server error", ...}` frame and keeps the connection;
- messages over 128 KB close the connection with 1009; idle connections close
  after limits.json's idle_timeout_seconds;
- PostToConnection during `$connect` is held until the upgrade completes.

One difference, on purpose: frames of one connection reach `$default` one at a
time, in order (API Gateway may invoke concurrently).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from chalicelib import clock
from chalicelib.settings import LIMITS
from chatapp.events import EventFactory, new_connection_id
from chatapp.faults import Faults
from chatapp.instances import Invoker
from chatapp.management import BufferFull, Gone
from chatapp.stages import StageTrace

log = logging.getLogger("chatapp.gateway")

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway: 128 KB per message (in 32 KB frames)
# A client with more unsent data than this is too slow: PostToConnection answers
# LimitExceededException (429), as API Gateway does.
CLIENT_BUFFER_MAX_BYTES: int = LIMITS.client_buffer_max_bytes
# The kernel's share of that buffering. Left to autotuning, a loopback socket's
# send buffer grows to megabytes and a client that stops reading is never noticed.
SOCKET_SEND_BUFFER_BYTES = 32 * 1024
HTTP_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}


@dataclass
class Connection:
    """One client connection as API Gateway tracks it."""

    connection_id: str
    source_ip: str
    user_agent: str
    connected_at_ms: int
    last_active_at: float = field(default_factory=time.time)
    ws: web.WebSocketResponse | None = None
    # PostToConnection data waiting for the writer; the event wakes it once per burst.
    outbox: collections.deque = field(default_factory=collections.deque)
    unsent_bytes: int = 0  # posted and not yet written to the socket (outbox + in flight)
    wakeup: asyncio.Event | None = None
    wake_scheduled: bool = False
    gone: bool = False
    server_close: tuple[int, str] | None = None  # set when this side closes it
    transport: Any = None  # the TCP transport (CHATAPP_FAULTS drop-after aborts it)
    frames_written: int = 0


def _bound_send_buffer(request: web.Request) -> None:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_SEND_BUFFER_BYTES)


def websocket_functions(app: Any) -> dict[str, str]:
    """Route key → the name of the function Chalice registered for it."""
    return {route_key: config.name for route_key, config in app.websocket_handlers.items()}


class WebSocketGateway:
    """The /ws endpoint, and the connection registry the Management API answers from."""

    def __init__(
        self,
        app: Any,
        events: EventFactory,
        functions: Invoker,
        idle_timeout: float,
        faults: Faults | None = None,
        origin_allowed: Callable[[str], bool] | None = None,
        trace: StageTrace | None = None,
    ) -> None:
        self.trace = trace or StageTrace()
        self.route_functions = websocket_functions(app)
        self.events = events
        self.functions = functions
        # Waits for the instances' answers off the event loop.
        self.waiters = getattr(functions, "waiters", None)
        self.idle_timeout = idle_timeout
        self.faults = faults or Faults()
        self.origin_allowed = origin_allowed
        self.loop: asyncio.AbstractEventLoop | None = None
        self._connections: dict[str, Connection] = {}
        self._lock = threading.Lock()

    # -- the Management API's view (called from handler threads) -----------------

    def _live(self, connection_id: str) -> Connection:
        with self._lock:
            connection = self._connections.get(connection_id)
        if connection is None or connection.gone:
            raise Gone(connection_id)
        return connection

    def post(self, connection_id: str, data: bytes) -> None:
        """Queue a frame for the client (held until the upgrade while in $connect)."""
        connection = self._live(connection_id)
        self.trace.posted(data)
        with self._lock:
            if connection.unsent_bytes + len(data) > CLIENT_BUFFER_MAX_BYTES:
                raise BufferFull(connection_id)
            connection.unsent_bytes += len(data)
            connection.outbox.append(data)
            wake = not connection.wake_scheduled
            connection.wake_scheduled = True
        if wake:  # one cross-thread wake-up per burst, not per frame
            assert self.loop is not None and connection.wakeup is not None
            self.loop.call_soon_threadsafe(connection.wakeup.set)

    def delete(self, connection_id: str) -> None:
        """Close the connection from the server side (DeleteConnection)."""
        connection = self._live(connection_id)
        assert self.loop is not None
        if connection.ws is None:
            # Still inside its $connect: API Gateway answers 410 until the upgrade
            # is done; the caller tries again (chalicelib/revocation.py).
            raise Gone(connection_id)
        connection.server_close = (1000, "Goodbye")
        ws = connection.ws
        self.loop.call_soon_threadsafe(
            lambda: asyncio.ensure_future(ws.close(code=1000, message=b"Goodbye"))
        )

    def info(self, connection_id: str) -> dict[str, Any]:
        """What GetConnection reports."""
        connection = self._live(connection_id)
        return {
            "connected_at": connection.connected_at_ms / 1000,
            "last_active_at": connection.last_active_at,
            "source_ip": connection.source_ip,
            "user_agent": connection.user_agent,
        }

    @property
    def connection_count(self) -> int:
        with self._lock:
            return len(self._connections)

    # -- invoking the handlers --------------------------------------------------

    async def _invoke(self, route_key: str, event: dict[str, Any]) -> Any:
        function_name = self.route_functions.get(route_key)
        if function_name is None:
            return {"statusCode": 200}
        log.debug("%s event %s", route_key, event)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.waiters, self.functions.invoke, function_name, event
        )

    # -- the HTTP side ------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for GET /ws: $connect, then frames, then $disconnect."""
        self.loop = asyncio.get_running_loop()
        origin = request.headers.get("Origin")
        if origin is not None and self.origin_allowed and not self.origin_allowed(origin):
            # A page of another site (scripts send no Origin and are let through).
            log.info("refused upgrade from origin %s", origin)
            return web.json_response({"message": HTTP_REASONS[403]}, status=403)
        connection = Connection(
            connection_id=new_connection_id(),
            source_ip=request.remote or "127.0.0.1",
            user_agent=request.headers.get("User-Agent", ""),
            connected_at_ms=clock.now_ms(),
            wakeup=asyncio.Event(),
        )
        cid = connection.connection_id
        with self._lock:
            self._connections[cid] = connection
        event = self.events.connect(
            connection, list(request.headers.items()), list(request.query.items())
        )
        try:
            result = await self._invoke("$connect", event)
            status = int(result.get("statusCode", 200)) if isinstance(result, dict) else 200
        except Exception:
            log.exception("$connect %s: handler raised", cid)
            status = 500
        if not 200 <= status < 300:
            self._forget(connection)
            log.info("connect %s refused %d", cid, status)
            return web.json_response(
                {"message": HTTP_REASONS.get(status, "Internal server error")},
                status=status,
            )
        if self.faults.slow_connect_ms:
            await asyncio.sleep(self.faults.slow_connect_ms / 1000)
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, autoping=True)
        try:
            await ws.prepare(request)
        except Exception:
            self._forget(connection)
            await self._disconnect(connection, 1006, "Upgrade failed")
            raise
        connection.ws = ws
        connection.transport = request.transport
        _bound_send_buffer(request)
        log.info("connect %s from %s (%d open)", cid, connection.source_ip, self.connection_count)
        writer = asyncio.create_task(self._write(connection))
        close_code, reason = 1006, "Going away"
        try:
            while True:
                try:
                    msg = await ws.receive(timeout=self.idle_timeout)
                except TimeoutError:
                    connection.server_close = (1001, "Going away")
                    await ws.close(code=1001, message=b"Going away")
                    break
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    connection.last_active_at = time.time()
                    await self._message(connection, msg.data)
                elif msg.type == WSMsgType.CLOSE:
                    close_code = ws.close_code or 1005
                    reason = msg.extra or (
                        "Client-side close frame status not set" if close_code == 1005 else ""
                    )
                    break
                else:  # CLOSING / CLOSED / ERROR: the peer vanished or broke the protocol
                    close_code = ws.close_code or 1006
                    if close_code == 1009:
                        reason = "Message too big"
                    break
        finally:
            if connection.server_close is not None:
                close_code, reason = connection.server_close
            self._forget(connection)
            writer.cancel()
            if not ws.closed:
                await ws.close()
            log.info("disconnect %s %d %s", cid, close_code, reason)
            if close_code == 1006 and self.faults.lost_disconnect:
                log.info("$disconnect %s dropped (CHATAPP_FAULTS=lost-disconnect)", cid)
            else:
                await self._disconnect(connection, close_code, reason)
        return ws

    async def close_all(self) -> None:
        """Server shutdown: close every connection with 1001, running their $disconnect."""
        with self._lock:
            open_connections = [c for c in self._connections.values() if c.ws is not None]
        for connection in open_connections:
            connection.server_close = (1001, "Going away")
        await asyncio.gather(
            *(c.ws.close(code=1001, message=b"Going away") for c in open_connections if c.ws),
            return_exceptions=True,
        )

    def _forget(self, connection: Connection) -> None:
        with self._lock:
            connection.gone = True
            self._connections.pop(connection.connection_id, None)

    async def _disconnect(self, connection: Connection, code: int, reason: str) -> None:
        try:
            await self._invoke("$disconnect", self.events.disconnect(connection, code, reason))
        except Exception:
            log.exception("$disconnect %s: handler raised", connection.connection_id)

    async def _message(self, connection: Connection, data: str | bytes) -> None:
        self.trace.frame(data)
        event = self.events.message(connection, data)
        try:
            await self._invoke("$default", event)
        except Exception:
            # API Gateway's answer when the integration fails; the connection stays.
            log.exception("$default %s: handler raised", connection.connection_id)
            error = {
                "message": "Internal server error",
                "connectionId": connection.connection_id,
                "requestId": event["requestContext"]["requestId"],
            }
            assert connection.ws is not None
            await connection.ws.send_str(json.dumps(error))

    async def _write(self, connection: Connection) -> None:
        """Send queued PostToConnection data to the client, in the order posted."""
        assert connection.wakeup is not None and connection.ws is not None
        while True:
            await connection.wakeup.wait()
            connection.wakeup.clear()
            with self._lock:
                connection.wake_scheduled = False
                batch = list(connection.outbox)
                connection.outbox.clear()
            try:
                for data in batch:
                    try:
                        await connection.ws.send_str(data.decode())
                    except UnicodeDecodeError:
                        await connection.ws.send_bytes(data)
                    # Written once the socket took it: a client that stops reading
                    # stalls this loop, and its unsent bytes grow.
                    with self._lock:
                        connection.unsent_bytes -= len(data)
                    self.trace.written(data)
                    connection.frames_written += 1
                    drop_after = self.faults.drop_after_frames
                    if drop_after and connection.frames_written >= drop_after:
                        log.info("dropping %s after %d frames (CHATAPP_FAULTS)",
                                 connection.connection_id, connection.frames_written)
                        if connection.transport is not None:
                            connection.transport.abort()  # no close frame: a lost network
                        return
            except (ConnectionError, RuntimeError):
                return  # closing: the reader loop reports the disconnect
