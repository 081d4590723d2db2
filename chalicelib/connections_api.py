"""The API Gateway Management API (`@connections`), lean: signed requests on pooled connections.

boto3's apigatewaymanagementapi client spends about 1 ms of CPU per
PostToConnection in its call machinery; a fan-out makes thousands. Here a call
is botocore's own SigV4 signer plus one request on a keep-alive urllib3
connection (both ship with the Lambda runtime): the same URL, signature and
answers, about a third of the CPU. What the service answers, and what a call
then returns:

    200 / 204                   SENT
    410 GoneException           GONE: the caller forgets the connection
    413 PayloadTooLarge         TOO_LARGE: that frame is dropped (logged)
    429 LimitExceeded           post(): THROTTLED at once, the caller decides (the
                                fan-out retries the room as a whole); send() and
                                delete(): retried with backoff, then REFUSED
    5xx, network errors         retried a few times, then FAILED

Every call takes its turn from the process's adaptive rate (chalicelib.send_rate)
and reports each 429 and success to it: a 429 may be the account's rate, which
only the whole process slowing down answers.

The endpoint is the WebSocket API's stage URL, or AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI
when set (the local runtime serves this API on its own port, as
AWS_ENDPOINT_URL_DYNAMODB points at its database). `client()` resolves it and
the credentials once per invocation.
"""

from __future__ import annotations

import enum
import logging
import os
import random
import time
from urllib.parse import quote, urlsplit

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from chalicelib import aws, lazy, observability, send_rate, settings

log = logging.getLogger(__name__)

SERVICE = "execute-api"  # the signing name of the Management API
ENDPOINT_ENV = "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"
# Waits before each retry, before jitter: a 429 to a reply or a close (the client
# is not reading, or the account's rate) gets about a second in all; 5xx and
# network errors two quick tries.
THROTTLED_DELAYS = (0.05, 0.1, 0.2, 0.4)
ERROR_DELAYS = (0.05, 0.2)
TIMEOUT = urllib3.Timeout(connect=2.0, read=5.0)


class Delivery(enum.Enum):
    """The outcome of one call, after any retries."""

    SENT = "sent"
    GONE = "gone"
    TOO_LARGE = "too_large"
    THROTTLED = "throttled"  # 429, not retried (post)
    REFUSED = "refused"  # 429 after retries (send, delete)
    FAILED = "failed"


@lazy.cached(on_reset=lambda pool: pool.clear())
def _pool() -> urllib3.PoolManager:
    """Keep-alive connections, one per fan-out thread, reused by every invocation."""
    return urllib3.PoolManager(
        maxsize=settings.get().fanout_threads, block=True, retries=False, timeout=TIMEOUT
    )


def endpoint(domain_name: str | None = None, stage: str | None = None) -> str:
    """The Management API's base URL for this stage (the local runtime's when it sets one).

    A WebSocket event's own domain and stage serve when WEBSOCKET_API_ID is not set.
    """
    override = os.environ.get(ENDPOINT_ENV)
    if override:
        return override.rstrip("/")
    config = settings.get()
    if config.websocket_api_id:
        region = aws.session().region_name
        return (
            f"https://{config.websocket_api_id}.execute-api.{region}.amazonaws.com"
            f"/{config.websocket_stage}"
        )
    if domain_name and stage:
        return f"https://{domain_name}/{stage}"
    raise RuntimeError("WEBSOCKET_API_ID is not set: cannot reach the connections")


def client(domain_name: str | None = None, stage: str | None = None) -> ConnectionsAPI:
    """A client for this invocation: endpoint and credentials resolved now, connections pooled."""
    session = aws.session()
    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("no AWS credentials to sign Management API calls with")
    return ConnectionsAPI(
        endpoint(domain_name, stage), session.region_name, credentials.get_frozen_credentials()
    )


class ConnectionsAPI:
    """PostToConnection and DeleteConnection, signed and sent on the shared pool."""

    def __init__(self, base_url: str, region: str, credentials: ReadOnlyCredentials) -> None:
        self.base_url = base_url
        self._signer = SigV4Auth(credentials, SERVICE, region)
        self._http = _pool().connection_from_url(base_url)

    def post(self, connection_id: str, data: bytes) -> Delivery:
        """PostToConnection: data (at most 32 KB) to one connection; a 429 is not retried."""
        outcome = self._call("POST", connection_id, data, throttled_delays=())
        observability.count("Deliveries", outcome=outcome.value)
        return outcome

    def delete(self, connection_id: str) -> Delivery:
        """DeleteConnection: close the connection (its $disconnect runs)."""
        return self._call("DELETE", connection_id, b"")

    def send(self, connection_id: str, message: str) -> None:
        """Post one text frame (a reply); any outcome other than SENT is logged, never raised."""
        outcome = self._call("POST", connection_id, message.encode())
        observability.count("Deliveries", outcome=outcome.value)
        if outcome is not Delivery.SENT:
            log.info("post to %s: %s", connection_id, outcome.value)

    def _call(
        self,
        method: str,
        connection_id: str,
        body: bytes,
        throttled_delays: tuple[float, ...] = THROTTLED_DELAYS,
    ) -> Delivery:
        url = f"{self.base_url}/@connections/{quote(connection_id, safe='')}"
        path = urlsplit(url).path
        throttled, errors = iter(throttled_delays), iter(ERROR_DELAYS)
        rate = send_rate.get()
        while True:
            rate.acquire()
            try:
                status = self._request(method, url, path, body)
            except urllib3.exceptions.HTTPError as failure:  # reset, refused, timed out
                status, reason = 0, repr(failure)
            else:
                reason = f"HTTP {status}"
            if status == 429:
                rate.throttled()
            elif status != 0:
                rate.succeeded()
            if status < 300 and status != 0:
                return Delivery.SENT
            if status == 410:
                return Delivery.GONE
            if status == 413:
                log.warning("%s %s: %d bytes too large, dropped", method, connection_id, len(body))
                return Delivery.TOO_LARGE
            if 400 <= status < 500 and status != 429:  # refused for good (403: bad signature)
                log.error("%s %s refused: %s", method, connection_id, reason)
                return Delivery.FAILED
            delays = throttled if status == 429 else errors
            delay = next(delays, None)
            if delay is None and status == 429:
                return Delivery.REFUSED if throttled_delays else Delivery.THROTTLED
            if delay is None:
                log.warning("%s %s given up: %s", method, connection_id, reason)
                return Delivery.FAILED
            time.sleep(delay * random.uniform(0.5, 1.5))

    def _request(self, method: str, url: str, path: str, body: bytes) -> int:
        request = AWSRequest(method=method, url=url, data=body)
        self._signer.add_auth(request)
        response = self._http.urlopen(
            method, path, body=body or None, headers=dict(request.headers.items())
        )
        return response.status
