"""OpenTelemetry spans for Reverie's runs, when ``opentelemetry-api`` is installed
(``pip install 'reverie[otel]'``); without it every function here does nothing.

Spans are parented explicitly (a phase under its run, a run under whatever span is current
where it starts) and never made current: a run's pipeline moves between ``yield``s, and a
context attached at one ``yield`` and detached at another could leak into unrelated code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

try:
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import Status, StatusCode
except ImportError:  # the optional extra is not installed: no spans
    otel_trace = None  # type: ignore[assignment]

Attributes = Mapping[str, str | bool | int | float]

TRACER_NAME = "reverie"


_NO_SDK = (
    (otel_trace.ProxyTracerProvider, otel_trace.NoOpTracerProvider)
    if otel_trace is not None
    else ()
)
# A proxy until the application installs a tracer provider, then that provider's tracer.
_tracer = otel_trace.get_tracer(TRACER_NAME) if otel_trace is not None else None


def start_span(
    name: str, parent: Any | None, attributes: Callable[[], Attributes] | None = None
) -> Any | None:
    """A started span (under ``parent``, else under the current span); None when nobody
    records spans (no SDK configured, or this trace not sampled). ``attributes`` is only
    called for a span that records."""
    if _tracer is None or otel_trace is None:
        return None
    # Until an application installs an SDK's provider no span can record: skip the no-op span.
    if isinstance(otel_trace.get_tracer_provider(), _NO_SDK):
        return None
    context = otel_trace.set_span_in_context(parent) if parent is not None else None
    span = _tracer.start_span(name, context=context)
    if not span.is_recording():
        return None
    if attributes is not None:
        span.set_attributes(dict(attributes()))
    return span


def end_span(span: Any, attributes: Attributes, error: BaseException | None = None) -> None:
    """Set the span's final attributes (and the error, if the work failed) and end it."""
    span.set_attributes(dict(attributes))
    if error is not None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:300]))
    span.end()


def attributes_of(values: Mapping[str, Any]) -> dict[str, str | bool | int | float]:
    """``values`` as span attributes under ``reverie.``; None values are left out (OpenTelemetry
    does not take them) and tuples become ``a/b`` paths."""
    out: dict[str, str | bool | int | float] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, tuple):
            value = "/".join(value)
        if isinstance(value, (str, bool, int, float)):
            out[f"reverie.{key}"] = value
    return out
