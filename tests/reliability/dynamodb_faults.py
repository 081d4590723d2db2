"""Faults for the in-process backend (tests/support/inprocess.py): `DynamoDBFaults`
throttles the backend's DynamoDB calls inside botocore's retry loop, so the
retries the code configured are the ones that run.
"""

from __future__ import annotations

import json
import random
import threading
from typing import Any

from botocore.awsrequest import AWSResponse

THROTTLING_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")


class _Body:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def stream(self, **_: Any) -> Any:
        yield self.payload


def _response(url: str, status: int, headers: dict[str, str], payload: bytes) -> AWSResponse:
    return AWSResponse(url, status, headers, _Body(payload))


class DynamoDBFaults:
    """Throttles a share of the backend's DynamoDB calls, inside botocore's retry loop.

    Per call (before-call) a `rate` share is chosen; a chosen call fails its
    first 1 to attempts + 1 attempts (before-send answers 400 with a throttling
    code, which botocore's standard mode retries with backoff), so some chosen
    calls recover on a retry and some run out of retries and fail.
    `attempts` records how many attempts every call took.

    botocore calls every before-send handler and keeps the first answer, so
    with moto's in-process stubber also registered moto would execute a
    request we answered as throttled. This client's stubber is unregistered
    and called from here, only for the attempts that are not throttled.
    """

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.random = random.Random(seed)
        self.enabled = False
        # Operations whose first attempt DynamoDB applies but whose answer is lost
        # (a 500 comes back instead), as after a timeout: the retry meets its own write.
        self.lose_first_answer: set[str] = set()
        self.injected = 0
        self.attempts: list[int] = []
        self.max_failing = 0
        self._call = threading.local()
        self._lock = threading.Lock()

    def install(self, client: Any) -> None:
        from moto.core.models import botocore_stubber

        self._moto = botocore_stubber
        self.max_failing = client.meta.config.retries["total_max_attempts"] + 1
        client.meta.events.unregister("before-send", botocore_stubber)
        client.meta.events.register("before-call.dynamodb", self._before_call)
        client.meta.events.register("before-send.dynamodb", self._before_send)
        client.meta.events.register("after-call.dynamodb", self._after_call)
        client.meta.events.register("after-call-error.dynamodb", self._after_call)

    def _before_call(self, model: Any, **_: Any) -> None:
        with self._lock:
            chosen = self.enabled and self.random.random() < self.rate
            failing = self.random.randint(1, self.max_failing) if chosen else 0
        self._call.failing, self._call.attempt = failing, 0
        self._call.lose = model.name in self.lose_first_answer

    def _before_send(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        self._call.attempt += 1
        if self._call.lose and self._call.attempt == 1:
            self._moto(event_name=event_name, request=request, **kwargs)  # applied...
            with self._lock:
                self.injected += 1
            payload = b'{"__type": "com.amazon.coral.service#InternalFailure"}'
            return _response(  # ...and answered with a 500, which botocore retries
                request.url, 500, {"Content-Type": "application/x-amz-json-1.0"}, payload
            )
        if self._call.attempt > self._call.failing:
            return self._moto(event_name=event_name, request=request, **kwargs)
        with self._lock:
            self.injected += 1
            code = self.random.choice(THROTTLING_CODES)
        payload = json.dumps(
            {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"}
        ).encode()
        return _response(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, payload)

    def _after_call(self, **_: Any) -> None:
        with self._lock:
            self.attempts.append(getattr(self._call, "attempt", 0))
