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

The same writer logs the API's questions (``record_questions``): best effort, as for the
webhook, so a resident always gets the answer. When writing fails (a full or read-only disk, a
write lock held elsewhere) the writer backs off (doubling up to ``max_backoff`` seconds), logs
the outage once and its end once, writes in chunks of ``chunk_rows`` (never the whole backlog as
one transaction), keeps at most ``max_backlog`` rows (dropping the oldest, counted and logged)
and recovers by itself once the database takes writes again.
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
BUSY_GIVE_UP_SECONDS = 4.0   # one-by-one mode only: then the record is dropped (logged)
WRITER_BUSY_TIMEOUT_MS = 50  # the batch writer waits this long for the lock, then backs off
CHUNK_ROWS = 500             # rows per transaction when catching up
MAX_BACKLOG = 20_000         # rows kept in memory while the database refuses writes
MAX_BACKOFF_SECONDS = 5.0

_Q_COLUMNS = ("asked_at", "channel", "user_hash", "text", "category", "urgent", "score",
              "case_id")
_RECORD = ("INSERT OR IGNORE INTO wechat_deliveries (key, received_at, reply, "
           + ", ".join(f"q_{c}" for c in _Q_COLUMNS) + ", nonce) VALUES ("
           + ", ".join("?" * (4 + len(_Q_COLUMNS))) + ")")
_QUESTION = (f"INSERT INTO questions ({', '.join(_Q_COLUMNS)}) "
             f"VALUES ({', '.join('?' * len(_Q_COLUMNS))})")
_LOOKUP_BOTH = "SELECT key, reply, nonce FROM wechat_deliveries WHERE key = ? OR nonce = ?"
_LOOKUP_KEY = "SELECT key, reply, nonce FROM wechat_deliveries WHERE key = ?"
_LOOKUP_NONCE = "SELECT key, reply, nonce FROM wechat_deliveries WHERE nonce = ?"


class Deliveries:
    def __init__(self, db_factory, flush_seconds: float = 0.02, chunk_rows: int = CHUNK_ROWS,
                 max_backlog: int = MAX_BACKLOG, max_backoff: float = MAX_BACKOFF_SECONDS):
        """``db_factory`` gives connections without a busy timeout: we retry busy writes."""
        self._db = db_factory
        self.flush_seconds = flush_seconds
        self.chunk_rows = chunk_rows
        self.max_backlog = max_backlog
        self.max_backoff = max_backoff
        # key -> row for deliveries; ("q", n) -> row for API questions (no delivery key).
        self._pending: dict = {}
        self._nonces: dict[str, str] = {}   # pending rows' signed (timestamp:nonce) -> key
        self._lock = threading.Lock()
        self._writer_pid = None
        self._stop = threading.Event()
        self._pruned_at = 0.0
        self._question_seq = 0
        self.dropped = 0                 # rows given up on (backlog full), since start
        self._outage: float | None = None   # since when writes fail (monotonic)
        self._dropped_reported = 0

    # -- reading ----------------------------------------------------------------------------
    def recorded_reply(self, key: str) -> str | None:
        """The reply already recorded for this push, if this is a redelivery."""
        return self.lookup(key, None)[0]

    def lookup(self, key: str, nonce: str | None) -> tuple[str | None, str | None]:
        """(the reply recorded for ``key``, the key a signed ``timestamp:nonce`` was first used
        for) in at most one read: a push's two questions (a redelivery? a signed URL used
        before?) answered by one indexed SELECT (SQLite's multi-index OR) instead of two.
        ``nonce`` None: encrypted mode, no owner."""
        with self._lock:
            pending = self._pending.get(key)
            owner = self._nonces.get(nonce) if nonce else None
        reply = None if pending is None else (pending[2] or "")
        need_reply, need_owner = pending is None, bool(nonce) and owner is None
        if not need_reply and not need_owner:
            return reply, owner
        if need_reply and need_owner:
            sql, params = _LOOKUP_BOTH, [key, nonce]
        elif need_reply:
            sql, params = _LOOKUP_KEY, [key]
        else:
            sql, params = _LOOKUP_NONCE, [nonce]
        for row_key, row_reply, row_nonce in self._db().conn.execute(sql, params):
            if need_reply and row_key == key:
                reply = row_reply or ""
            if need_owner and row_nonce == nonce:
                owner = row_key
        return reply, owner

    # -- recording --------------------------------------------------------------------------
    def record(self, key: str, reply: str, question: dict | None,
               now: float | None = None, nonce: str | None = None) -> str:
        """Record a first delivery's reply (and question, and in plaintext mode the signed
        ``timestamp:nonce`` it came with); return the reply to send."""
        now = time.time() if now is None else now
        row = [key, now, reply, *(question[c] if question else None for c in _Q_COLUMNS), nonce]
        if self.flush_seconds <= 0:
            if self._write_now({key: row}, now):
                return self.recorded_reply(key) or ""
            return reply
        with self._lock:
            if key not in self._pending:
                self._add_pending(key, row)
                if nonce:
                    self._nonces[nonce] = key
            reply = self._pending[key][2]
        self._ensure_writer()
        return reply

    def record_questions(self, questions: list[dict]) -> None:
        """Log the API's questions, best effort: never raises, never waits for the lock."""
        rows = [[q[c] for c in _Q_COLUMNS] for q in questions]
        if not rows:
            return
        if self.flush_seconds <= 0:
            self._write_now({("q", i): r for i, r in enumerate(rows)}, time.time())
            return
        with self._lock:
            for r in rows:
                self._question_seq += 1
                self._add_pending(("q", self._question_seq), r)
        self._ensure_writer()

    def _add_pending(self, key, row) -> None:
        """Caller holds the lock. A full backlog drops its oldest row (counted)."""
        while len(self._pending) >= self.max_backlog:
            oldest = next(iter(self._pending))
            lost = self._pending.pop(oldest)
            if not isinstance(oldest, tuple) and lost[-1]:     # a delivery with its nonce
                self._nonces.pop(lost[-1], None)
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("record backlog full (%d rows): %d row(s) dropped so far",
                          self.max_backlog, self.dropped)
        self._pending[key] = row

    def _write_now(self, rows: dict, now: float) -> bool:
        """One-by-one mode: write at once; a failure is logged and the answer still goes out."""
        try:
            self._write_rows(rows, now, spin=True)
            return True
        except sqlite3.Error as exc:
            self.dropped += len(rows)
            log.error("could not record %d row(s), dropped: %s", len(rows), exc)
            return False

    def flush(self) -> None:
        """Write everything pending now, chunk by chunk (also called at exit and by the writer
        thread); raises sqlite3.Error if the database refuses, keeping the rows."""
        while True:
            with self._lock:
                chunk = dict(zip(range(self.chunk_rows), self._pending.items()))
            if not chunk:
                return
            rows = dict(chunk.values())
            self._write_rows(rows, time.time())
            with self._lock:
                for key, row in rows.items():
                    if self._pending.get(key) is row:
                        del self._pending[key]
                        if not isinstance(key, tuple) and row[-1]:
                            self._nonces.pop(row[-1], None)

    def close(self) -> None:
        """Stop the writer thread after a last flush (tests; at exit the flush is enough)."""
        self._stop.set()
        try:
            self.flush()
        except sqlite3.Error as exc:
            log.error("last flush failed, %d row(s) lost: %s", len(self._pending), exc)

    def _ensure_writer(self) -> None:
        # Started lazily in each worker: gunicorn forks after the app is built (--preload).
        if self._writer_pid != os.getpid():
            self._writer_pid = os.getpid()
            threading.Thread(target=self._writer, name="deliveries-writer", daemon=True).start()
            atexit.register(self.close)

    def _writer(self) -> None:
        delay = self.flush_seconds
        while not self._stop.wait(delay):
            delay = self._flush_round(delay)

    def _flush_round(self, delay: float) -> float:
        """One round of the writer; returns how long to wait before the next."""
        try:
            self.flush()
        except sqlite3.Error as exc:
            if self._outage is None:
                self._outage = time.monotonic()
                log.error("cannot write records (%s); keeping them in memory (at most %d) and "
                          "retrying with backoff", exc, self.max_backlog)
            return min(max(delay * 2, 0.05), self.max_backoff)
        except Exception:  # noqa: BLE001 - a bug must not kill the writer thread
            log.exception("writing records failed")
            return self.max_backoff
        if self._outage is not None:
            log.warning("records are written again after %.0f s; %d row(s) were dropped "
                        "meanwhile", time.monotonic() - self._outage,
                        self.dropped - self._dropped_reported)
            self._outage, self._dropped_reported = None, self.dropped
        return self.flush_seconds

    def _write_rows(self, rows: dict, now: float, spin: bool = False) -> None:
        """One transaction. ``spin``: retry a busy lock in tiny steps (one-by-one mode, on the
        request's path); else let SQLite wait briefly and raise (the writer backs off)."""
        db = self._db()
        if spin:
            deadline = time.monotonic() + BUSY_GIVE_UP_SECONDS
            while True:
                try:
                    db.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc) or \
                            time.monotonic() > deadline:
                        raise
                    time.sleep(BUSY_RETRY_SECONDS)
        else:
            db.execute(f"PRAGMA busy_timeout={WRITER_BUSY_TIMEOUT_MS}")
            db.execute("BEGIN IMMEDIATE")
        try:
            deliveries = [r for k, r in rows.items() if not isinstance(k, tuple)]
            questions = [r for k, r in rows.items() if isinstance(k, tuple)]
            if deliveries:
                db.conn.executemany(_RECORD, deliveries)
            if questions:
                db.conn.executemany(_QUESTION, questions)
            if now - self._pruned_at > PRUNE_INTERVAL:
                self._pruned_at = now
                db.execute("DELETE FROM wechat_deliveries WHERE received_at < ?",
                           [now - KEEP_SECONDS])
            db.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.execute("ROLLBACK")
            raise
