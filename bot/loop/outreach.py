"""Messages the bot sends later (screenshot answers, answers that came later), within WeChat's
customer-service quota: at most ``quota`` messages within ``window_hours`` after the resident
last wrote. A UNIQUE (user, purpose) row is written *before* sending, so nothing is sent twice;
the result (sent / failed / skipped and WeChat's errcode) is recorded on that row.

The resident's OpenID is needed to send: it is kept in ``cs_windows`` only while the window is
open, and pruned after it.
"""
from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta

from sqlite_utils import Database

from ..storage.db import write_transaction

log = logging.getLogger(__name__)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


class Outreach:
    def __init__(self, db_factory, messenger, quota: int, window_hours: int):
        self._db = db_factory
        self.messenger = messenger
        self.quota, self.window_hours = quota, window_hours

    def db(self) -> Database:
        return self._db()

    def resident_wrote(self, user_hash: str, openid: str, now: datetime) -> None:
        """Opens (or reopens) the window; old windows and their OpenIDs are pruned."""
        db = self.db()
        with write_transaction(db):
            db.execute("INSERT OR REPLACE INTO cs_windows (user_hash, openid, wrote_at) "
                       "VALUES (?, ?, ?)", [user_hash, openid, _iso(now)])
            db.execute("DELETE FROM cs_windows WHERE wrote_at < ?",
                       [_iso(now - timedelta(hours=self.window_hours))])

    def window(self, user_hash: str, now: datetime) -> tuple[str, str] | None:
        """(openid, wrote_at) while the window is open, else None."""
        row = self.db().execute("SELECT openid, wrote_at FROM cs_windows WHERE user_hash = ?",
                                [user_hash]).fetchone()
        if row is None or datetime.fromisoformat(row[1]) + \
                timedelta(hours=self.window_hours) < now:
            return None
        return row[0], row[1]

    def send(self, user_hash: str, purpose: str, text: str, now: datetime) -> str:
        """'sent', 'failed', 'duplicate' (already sent or being sent), 'closed' (window
        closed) or 'quota' (quota used up); recorded on the cs_messages row except 'duplicate'."""
        db = self.db()
        window = self.window(user_hash, now)
        with write_transaction(db):
            try:
                cur = db.execute("INSERT INTO cs_messages (user_hash, purpose, status, created_at)"
                                 " VALUES (?, ?, 'sending', ?)", [user_hash, purpose, _iso(now)])
            except sqlite3.IntegrityError:
                return "duplicate"
            row_id = cur.lastrowid
            if window is None:
                status = "closed"
            else:
                used = db.execute("SELECT COUNT(*) FROM cs_messages WHERE user_hash = ? AND "
                                  "status = 'sent' AND sent_at >= ?",
                                  [user_hash, window[1]]).fetchone()[0]
                status = "quota" if used >= self.quota else "sending"
            if status != "sending":
                db.execute("UPDATE cs_messages SET status = ? WHERE id = ?", [status, row_id])
                return status
        result = self.messenger.send_text(window[0], text)
        status = "sent" if result.ok else "failed"
        with write_transaction(db):
            db.execute("UPDATE cs_messages SET status = ?, errcode = ?, errmsg = ?, sent_at = ? "
                       "WHERE id = ?", [status, result.errcode, result.errmsg[:200], _iso(now),
                                        row_id])
        if not result.ok:
            log.warning("customer-service message %s failed: errcode %s", purpose, result.errcode)
        return status
