"""In-process events of the catalog, for apps above it (catalog imports none of them).

`publish(AUDIO_STORED, label=...)` inside a transaction runs every subscribed handler after the commit,
so fingerprinting can index new audio without the catalog knowing fingerprinting exists. Handler
signature: `handler(event_type: str, *, label: Label) -> None`; subscribe from `AppConfig.ready()`.
"""

import logging
from collections.abc import Callable

from django.db import transaction

AUDIO_STORED = "recording.audio_stored"  # one or more recordings of the label got new audio
logger = logging.getLogger(__name__)
_handlers: list[Callable] = []


def subscribe(handler: Callable) -> Callable:
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


def publish(event_type: str, *, label) -> None:
    for handler in list(_handlers):
        transaction.on_commit(lambda handler=handler: handler(event_type, label=label), robust=True)
