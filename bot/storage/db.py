"""SQLite connections: settings that suit several processes, one connection per thread and
process, and the write-transaction helper every writer uses.

The store is shared by every server worker and the scheduler: WAL mode lets readers and one
writer work side by side.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

from sqlite_utils import Database


def utcnow_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def connect(path: Path | str, busy_timeout_ms: int = 10000) -> Database:
    """Open the database with settings that suit several processes writing small rows.

    ``busy_timeout_ms=0`` is for the webhook's hot path, which retries a busy write itself in
    fractions of a millisecond instead of SQLite's busy handler, whose first sleep is 1 ms."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False,
                           isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    # Checkpoint the WAL every ~16 MB instead of every 4 MB: fewer, larger checkpoints cut the
    # cost of the webhook's one write per push by about a fifth (bench/webhook_bench.py).
    conn.execute("PRAGMA wal_autocheckpoint=4000")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys=ON")
    return Database(conn)


@contextlib.contextmanager
def write_transaction(db: Database):
    """BEGIN IMMEDIATE: take the write lock up front, so concurrent writers wait (busy_timeout)
    instead of failing when a read transaction tries to upgrade. Inside another write
    transaction it is a savepoint of it, so a read-modify-write can wrap a service call."""
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    else:
        db.execute("COMMIT")




def make_db_factory(path, busy_timeout_ms: int = 10000):
    """A connection per thread and process (safe across gunicorn's fork)."""
    local = threading.local()

    def get_db():
        if getattr(local, "pid", None) != os.getpid():
            local.db, local.pid = connect(path, busy_timeout_ms), os.getpid()
        return local.db
    return get_db
