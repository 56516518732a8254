"""The default channel: write the message to the local outbox table (and the log).

`make run` works with no keys, and a person can read in the outbox what would have been sent.
"""
from __future__ import annotations

import json
import logging

from ...storage.db import utcnow_iso
from . import Message, SendResult, register

log = logging.getLogger(__name__)


@register("outbox")
class OutboxChannel:
    def __init__(self, settings, db_factory, clock, sleep):
        self._db = db_factory

    def send(self, group, message: Message, push_id: int) -> SendResult:
        payload = message.markdown if group.msgtype == "markdown" else message.text
        self._db()["outbox"].insert({
            "push_id": push_id, "group_id": group.id, "msgtype": group.msgtype,
            "payload": json.dumps({"title": message.title, "content": payload},
                                  ensure_ascii=False),
            "created_at": utcnow_iso()})
        log.info("outbox: %s (%s) <- %s", group.name, group.id, message.title)
        return SendResult(ok=True)
