"""Lambda's Invoke API, locally: `POST /2015-03-31/functions/{name}/invocations`.

The handlers invoke functions with boto3's lambda client; the local runtime
points it at its own port with AWS_ENDPOINT_URL_LAMBDA and answers as Lambda
does, running the function found through the Chalice app object
(`app.handler_map`, never by name in code) on the Lambda instances
(chatapp.instances):

- `X-Amz-Invocation-Type: Event` (asynchronous): 202 at once; the function runs
  on an instance. When it raises, Lambda retries twice (after about 1 and 2
  minutes; here after RETRY_DELAYS_SECONDS, each attempt possibly on another
  instance), then hands the event to the
  on-failure destination: here a line in `failed-invocations.jsonl` in the
  data dir, and a log line counting them.
- `RequestResponse` (the default): 200 with the function's JSON result; a
  raised error comes back as 200 with `X-Amz-Function-Error: Unhandled`.
- A function the app does not have: 404 ResourceNotFoundException.

Requests must be SigV4-signed (service `lambda`) with the local credentials.
A deployed name (`{app}-{stage}-{function}`) finds the same function.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from botocore.credentials import ReadOnlyCredentials

from chatapp.instances import Invoker
from chatapp.sigv4 import signature_problem

log = logging.getLogger("chatapp.invoke")

PATH = "/2015-03-31/functions/{name}/invocations"
SERVICE = "lambda"
RETRY_DELAYS_SECONDS = (1.0, 2.0)  # Lambda: about 1 and 2 minutes
FAILED_FILE = "failed-invocations.jsonl"
Answer = tuple[int, dict[str, str], bytes]


class LambdaService:
    """Answers Invoke for the app's functions, running them on `functions`.

    `executor` runs asynchronous invocations (their waits and retries).
    """

    def __init__(
        self,
        functions: Invoker,
        executor: Executor,
        credentials: ReadOnlyCredentials,
        region: str,
        data_dir: Path,
        failing_attempts: int = 0,
    ) -> None:
        self.functions = functions
        self.executor = executor
        self.credentials = credentials
        self.region = region
        self.failed_path = data_dir / FAILED_FILE
        self.kept = 0
        # CHATAPP_FAULTS=invocation-fails=N: the first N async attempts fail
        # before the function runs (as a crash or timeout would).
        self._failing_attempts = failing_attempts
        self._lock = threading.Lock()

    def answer(
        self, name: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Answer:
        """One Invoke request → (status, headers, body), as Lambda answers it."""
        problem = signature_problem(
            "POST", url, headers, body, self.credentials, self.region, SERVICE
        )
        if problem is not None:
            log.warning("Invoke %s refused: %s", name, problem)
            return _error(403, "AccessDeniedException", problem)
        python_name = self._function_name(name)
        if python_name is None:
            return _error(404, "ResourceNotFoundException", f"Function not found: {name}")
        try:
            event = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "InvalidRequestContentException", "Could not parse request body")
        if headers.get("X-Amz-Invocation-Type", "RequestResponse") == "Event":
            self.executor.submit(self._run_async, python_name, event)
            return 202, {}, b""
        try:
            result = self._run(python_name, event)
        except Exception as error:
            log.exception("%s raised", python_name)
            payload = {"errorMessage": str(error), "errorType": type(error).__name__}
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(payload).encode()
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()

    def _function_name(self, name: str) -> str | None:
        for python_name in self.functions.names():
            if name == python_name or name.endswith(f"-{python_name}"):
                return python_name
        return None

    def _run(self, python_name: str, event: Any) -> Any:
        return self.functions.invoke(python_name, event)

    def _run_async(self, python_name: str, event: Any) -> None:
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS_SECONDS)):
            time.sleep(delay)
            try:
                with self._lock:
                    crash, self._failing_attempts = (
                        self._failing_attempts > 0, max(self._failing_attempts - 1, 0)
                    )
                if crash:
                    raise RuntimeError("injected failure (CHATAPP_FAULTS=invocation-fails)")
                self.functions.invoke(python_name, event, background=True)
                return
            except Exception:
                log.exception("%s: asynchronous invocation failed (attempt %d)",
                              python_name, attempt + 1)
        self._keep(python_name, event)

    def _keep(self, python_name: str, event: Any) -> None:
        """The on-failure destination: the event is kept, never lost."""
        with self._lock:
            self.kept += 1
            kept = self.kept
            with self.failed_path.open("a") as file:
                file.write(json.dumps({"function": python_name, "event": event}) + "\n")
        log.error("%s: invocation failed after its retries; kept in %s (%d kept)",
                  python_name, self.failed_path, kept)


def _error(status: int, code: str, message: str) -> Answer:
    body = json.dumps({"Type": "User", "message": message}).encode()
    return status, {"x-amzn-ErrorType": code, "Content-Type": "application/json"}, body
