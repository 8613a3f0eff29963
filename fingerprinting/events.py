"""In-process domain events of the attribution engine.

Services call `publish("clip.attributed", clip=..., attribution=...)` inside their transaction; every
subscribed handler runs after the commit (`transaction.on_commit`), so a handler never sees a row that
is later rolled back, and a failing handler is logged without undoing the attribution (`robust=True`).

Event types: "clip.attributed", "clip.rejected", "attribution.revised", "attribution.unlicensed_use".
Handler signature: `handler(event_type: str, *, clip: Clip, attribution: Attribution | None) -> None`.
Other apps subscribe from their `AppConfig.ready()`.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from django.db import transaction

if TYPE_CHECKING:
    from fingerprinting.models import Attribution, Clip

CLIP_ATTRIBUTED = "clip.attributed"
CLIP_REJECTED = "clip.rejected"
ATTRIBUTION_REVISED = "attribution.revised"
UNLICENSED_USE = "attribution.unlicensed_use"  # an attribution drew on a recording outside the licence
EVENT_TYPES = (CLIP_ATTRIBUTED, CLIP_REJECTED, ATTRIBUTION_REVISED, UNLICENSED_USE)


class Handler(Protocol):
    def __call__(self, event_type: str, *, clip: "Clip", attribution: "Attribution | None") -> None: ...


_handlers: list[Handler] = []


def subscribe(handler: Handler) -> Handler:
    """Register a handler once (subscribing the same function twice is a no-op). Usable as a decorator."""
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


def unsubscribe(handler: Handler) -> None:
    if handler in _handlers:
        _handlers.remove(handler)


def _deliver(handler: Handler, event_type: str, clip: "Clip", attribution: "Attribution | None") -> Callable:
    return lambda: handler(event_type, clip=clip, attribution=attribution)


def publish(event_type: str, *, clip: "Clip", attribution: "Attribution | None") -> None:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    for handler in list(_handlers):
        transaction.on_commit(_deliver(handler, event_type, clip, attribution), robust=True)
