"""Exactly-once effects of WeChat pushes across server workers, with one write per push.

WeChat redelivers a push up to three times when we are slow. A delivery first *reads* its key in
``wechat_deliveries``: a redelivery finds the stored reply and sends it again, processing and
logging nothing. A first delivery computes its reply (the answer engine is a pure function) and
records it with a single ``INSERT OR IGNORE`` whose row carries the question; a trigger copies
the question into the log in the same statement, and an ignored insert fires nothing. Two
deliveries racing in two workers may both compute, but only one records, and both send the
recorded reply. The table is the only shared state.
"""
from __future__ import annotations

import sqlite3
import time

KEEP_SECONDS = 3600          # WeChat stops redelivering after ~15 s; an hour is plenty
PRUNE_INTERVAL = 60          # seconds between clean-ups, per process (rows hold OpenIDs)
BUSY_RETRY_SECONDS = 0.0002  # another worker holds the write lock for tens of microseconds
BUSY_GIVE_UP_SECONDS = 4.0

_Q_COLUMNS = ("asked_at", "channel", "user_hash", "text", "category", "urgent", "score",
              "case_id")
_RECORD = ("INSERT OR IGNORE INTO wechat_deliveries (key, received_at, reply, "
           + ", ".join(f"q_{c}" for c in _Q_COLUMNS) + ") VALUES ("
           + ", ".join("?" * (3 + len(_Q_COLUMNS))) + ")")


class Deliveries:
    def __init__(self, db_factory):
        """``db_factory`` gives connections without a busy timeout: we retry busy writes."""
        self._db = db_factory
        self._pruned_at = 0.0

    def recorded_reply(self, key: str) -> str | None:
        """The reply already recorded for this push, if this is a redelivery."""
        row = self._db().execute("SELECT reply FROM wechat_deliveries WHERE key = ?",
                                 [key]).fetchone()
        return None if row is None else (row[0] or "")

    def _write(self, sql: str, params) -> int:
        deadline = time.monotonic() + BUSY_GIVE_UP_SECONDS
        while True:
            try:
                return self._db().execute(sql, params).rowcount
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(BUSY_RETRY_SECONDS)

    def record(self, key: str, reply: str, question: dict | None,
               now: float | None = None) -> str:
        """Record a first delivery's reply (and question); return the reply to send, which
        is another worker's if it recorded the same push first."""
        now = time.time() if now is None else now
        q = [question[c] if question else None for c in _Q_COLUMNS]
        if self._write(_RECORD, [key, now, reply, *q]) != 1:
            reply = self.recorded_reply(key) or ""
        if now - self._pruned_at > PRUNE_INTERVAL:
            self._pruned_at = now
            self._write("DELETE FROM wechat_deliveries WHERE received_at < ?",
                        [now - KEEP_SECONDS])
        return reply
