"""Exactly-once handling of WeChat pushes across server workers.

WeChat redelivers a push up to three times when we are slow. The first delivery to insert its
key into ``wechat_deliveries`` owns the push; every other delivery, in any worker, waits briefly
for the owner's reply and sends the same one. The table is the only shared state, so this holds
whether the deliveries land on one worker or several.
"""
from __future__ import annotations

import time

from sqlite_utils import Database

KEEP_SECONDS = 3600          # WeChat stops redelivering after ~15 s; an hour is plenty
PRUNE_INTERVAL = 60          # seconds between clean-ups, per process (rows hold OpenIDs)


class Deliveries:
    def __init__(self, db_factory, wait_seconds: float = 4.0, poll_seconds: float = 0.05):
        self._db = db_factory
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self._pruned_at = 0.0

    def claim(self, key: str, now: float | None = None) -> bool:
        """True if this delivery is the first for ``key`` and must be processed."""
        now = time.time() if now is None else now
        db: Database = self._db()
        cur = db.execute("INSERT OR IGNORE INTO wechat_deliveries (key, received_at) "
                         "VALUES (?, ?)", [key, now])
        if now - self._pruned_at > PRUNE_INTERVAL:
            self._pruned_at = now
            db.execute("DELETE FROM wechat_deliveries WHERE received_at < ?",
                       [now - KEEP_SECONDS])
        return cur.rowcount == 1

    def release(self, key: str) -> None:
        """Give up a claim after a failure so the next redelivery can try again."""
        self._db().execute("DELETE FROM wechat_deliveries WHERE key = ? AND reply IS NULL", [key])

    def reply_of(self, key: str) -> str | None:
        """The reply recorded for a key, waiting a little while the owner is still working.

        Returns None if none arrives in time (then the caller answers 'success')."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            row = self._db().execute("SELECT reply FROM wechat_deliveries WHERE key = ?",
                                     [key]).fetchone()
            if row is not None and row[0] is not None:
                return row[0]
            if row is None or time.monotonic() >= deadline:
                return None
            time.sleep(self.poll_seconds)
