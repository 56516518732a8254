"""Message routing: handlers registered in a table by message type or event, first answer wins.

Every handler has the signature ``(msg, ctx)`` and returns a plain value: reply text, a
``News`` card, or None to let the next handler try. No handler renders XML.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Callable

log = logging.getLogger(__name__)

Handler = Callable[..., object]
ANY = "*"


class Router:
    def __init__(self):
        self._by_type: dict[str, list[Handler]] = defaultdict(list)
        self._by_event: dict[str, list[Handler]] = defaultdict(list)

    def on(self, *msg_types: str):
        """Register a handler for message types ('text', 'voice', ... or '*')."""
        def register(fn: Handler) -> Handler:
            for t in msg_types:
                self._by_type[t].append(fn)
            return fn
        return register

    def on_event(self, *events: str):
        """Register a handler for event names ('subscribe', 'click', ... or '*')."""
        def register(fn: Handler) -> Handler:
            for e in events:
                self._by_event[e.lower()].append(fn)
            return fn
        return register

    def handlers_for(self, msg) -> list[Handler]:
        if msg.msg_type == "event":
            return self._by_event.get(msg.event, []) + self._by_event.get(ANY, [])
        return self._by_type.get(msg.msg_type, []) + self._by_type.get(ANY, [])

    def dispatch(self, msg, ctx):
        """The first non-empty reply of the matching handlers, or None (answer 'success')."""
        for handler in self.handlers_for(msg):
            reply = handler(msg, ctx)
            if reply:
                return reply
        return None
