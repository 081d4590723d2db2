"""X-Ray traces of the handlers (Powertools' Tracer), off unless the stage turns them on.

With TRACING=on (infra's `xray_tracing`, which also turns on the functions'
active tracing and grants them xray:PutTraceSegments), each invocation gets a
subsegment `## <function>` (annotated with ColdStart and the function), every
botocore call (DynamoDB, Lambda's Invoke) one of its own through the X-Ray
SDK's botocore patch, and every Management API call (our own HTTP client,
which no patch sees) a `PostToConnection` or `DeleteConnection` subsegment with
its outcome; a room's delivery is one `deliver_room` subsegment with its
connection count. Annotations are counts, outcomes and names only: never a
token, a password or a message's text.

Off (the default), nothing here imports Powertools' Tracer or the X-Ray SDK:
a subsegment is a shared no-op object, and the cold start pays nothing.
Powertools' Tracer also stays off outside Lambda (no LAMBDA_TASK_ROOT), where
no X-Ray daemon listens; POWERTOOLS_TRACE_DISABLED=true turns it off too. The
SDK and Powertools come from the Powertools layer on Lambda
(requirements-dev.txt pins both for local runs and tests).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol

from chalicelib import lazy, settings

SERVICE = "chat"
Annotation = str | int | float | bool


class Span(Protocol):
    """A subsegment being recorded (or not): annotate it with searchable values."""

    def __enter__(self) -> Span: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def annotate(self, **values: Annotation) -> None: ...


class _Untraced:
    """Tracing off: one shared object that records nothing."""

    def __enter__(self) -> _Untraced:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def annotate(self, **values: Annotation) -> None:
        pass


_UNTRACED = _Untraced()


class _Traced:
    """One X-Ray subsegment (the SDK's own context manager records errors and ends it)."""

    def __init__(self, recorder: Any, name: str, namespace: str,
                 annotations: dict[str, Annotation]) -> None:
        self._manager = recorder.in_subsegment(name, namespace=namespace)
        self._annotations = annotations
        self._subsegment: Any = None

    def __enter__(self) -> _Traced:
        self._subsegment = self._manager.__enter__()
        self.annotate(**self._annotations)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._manager.__exit__(kind, error, traceback)

    def annotate(self, **values: Annotation) -> None:
        if self._subsegment is not None:  # None: no trace to join (the SDK logs it)
            for key, value in values.items():
                self._subsegment.put_annotation(key, value)


def _forget(tracer: Any) -> None:
    """Tests turn tracing off again: Powertools keeps a Tracer's settings per class."""
    if tracer is not None:
        import aws_xray_sdk  # type: ignore[import-untyped]

        type(tracer)._reset_config()
        aws_xray_sdk.global_sdk_config.set_sdk_enabled(False)  # the botocore patch stays


@lazy.cached(on_reset=_forget)
def _tracer() -> Any:
    """Powertools' Tracer with botocore patched, or None when tracing is off."""
    if not settings.get().tracing:
        return None
    import aws_xray_sdk
    from aws_lambda_powertools import Tracer

    aws_xray_sdk.global_sdk_config.set_sdk_enabled(True)
    tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
    return None if tracer.disabled else tracer


def enabled() -> bool:
    """Whether this process records traces."""
    return _tracer() is not None


def subsegment(name: str, namespace: str = "local", **annotations: Annotation) -> Span:
    """A subsegment around a block (a no-op when tracing is off): `with subsegment(...) as s:`."""
    tracer = _tracer()
    if tracer is None:
        return _UNTRACED
    return _Traced(tracer.provider, name, namespace, annotations)
