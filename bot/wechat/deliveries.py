"""Exactly-once effects of WeChat pushes across server workers.

WeChat redelivers a push up to three times when we are slow (no answer within 5 s). A delivery
first looks its key up in ``wechat_deliveries``: a redelivery finds the stored reply and sends
it again, processing and logging nothing. A first delivery computes its reply (the answer engine
is a pure function) and records it with ``INSERT OR IGNORE``; the row carries the question and
a trigger copies it into the question log in the same statement, so an ignored (duplicate)
insert logs nothing. Two deliveries racing in two workers may both compute, but only one row is
recorded and logged.

Writing is the expensive part of a push (the write lock is shared by every worker), so records
are written in small batches: a writer thread per worker flushes what arrived in the last
``flush_seconds`` (default 20 ms) in one transaction. Until then the record is visible to its
own worker; another worker sees it at most 20 ms later, far inside WeChat's 5 s redelivery
delay. A worker that is SIGKILLed loses at most that last batch; a normal stop flushes it.
``flush_seconds=0`` writes each record at once (tests that read rows right after a post).
"""
from __future__ import annotations

import atexit
import logging
import os
import sqlite3
import threading
import time

log = logging.getLogger(__name__)

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
    def __init__(self, db_factory, flush_seconds: float = 0.02):
        """``db_factory`` gives connections without a busy timeout: we retry busy writes."""
        self._db = db_factory
        self.flush_seconds = flush_seconds
        self._pending: dict[str, list] = {}
        self._lock = threading.Lock()
        self._writer_pid = None
        self._pruned_at = 0.0

    # -- reading ----------------------------------------------------------------------------
    def recorded_reply(self, key: str) -> str | None:
        """The reply already recorded for this push, if this is a redelivery."""
        with self._lock:
            pending = self._pending.get(key)
        if pending is not None:
            return pending[2] or ""
        row = self._db().execute("SELECT reply FROM wechat_deliveries WHERE key = ?",
                                 [key]).fetchone()
        return None if row is None else (row[0] or "")

    # -- recording --------------------------------------------------------------------------
    def record(self, key: str, reply: str, question: dict | None,
               now: float | None = None) -> str:
        """Record a first delivery's reply (and question); return the reply to send."""
        now = time.time() if now is None else now
        row = [key, now, reply, *(question[c] if question else None for c in _Q_COLUMNS)]
        if self.flush_seconds <= 0:
            self._write_rows([row], now)
            return self.recorded_reply(key) or ""
        with self._lock:
            self._pending.setdefault(key, row)
            reply = self._pending[key][2]
        self._ensure_writer()
        return reply

    def flush(self) -> None:
        """Write everything pending now (also called at exit and by the writer thread)."""
        with self._lock:
            rows = list(self._pending.values())
        if rows:
            self._write_rows(rows, time.time())
            with self._lock:
                for r in rows:
                    if self._pending.get(r[0]) is r:
                        del self._pending[r[0]]

    def _ensure_writer(self) -> None:
        # Started lazily in each worker: gunicorn forks after the app is built (--preload).
        if self._writer_pid != os.getpid():
            self._writer_pid = os.getpid()
            threading.Thread(target=self._writer, name="deliveries-writer", daemon=True).start()
            atexit.register(self.flush)

    def _writer(self) -> None:
        while True:
            time.sleep(self.flush_seconds)
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - keep the rows and try again next round
                log.exception("writing deliveries failed; retrying")

    def _write_rows(self, rows: list[list], now: float) -> None:
        deadline = time.monotonic() + BUSY_GIVE_UP_SECONDS
        db = self._db()
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or \
                        time.monotonic() > deadline:
                    raise
                time.sleep(BUSY_RETRY_SECONDS)
        try:
            db.conn.executemany(_RECORD, rows)
            if now - self._pruned_at > PRUNE_INTERVAL:
                self._pruned_at = now
                db.execute("DELETE FROM wechat_deliveries WHERE received_at < ?",
                           [now - KEEP_SECONDS])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
