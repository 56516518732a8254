"""The push log (``pushes`` table), the truth for the scheduler.

For each (group, slot, message) the row is written *before* the send (status ``sending``) and
updated after it. The UNIQUE key on (group_id, slot, message_key) makes a second send of the
same slot impossible to record, so impossible to make. A crash between send and record leaves
``sending``; the next start turns it into ``unknown``, which is shown to admins and never resent
(WeCom has no idempotency key: resending could post the tip twice).

Statuses: sending → sent | failed (retried with backoff, bounded) ; skipped (group unhealthy or
nothing to send) ; missed (the slot passed while the scheduler was down, beyond the grace
period) ; unknown (crashed mid-send, or WeCom's answer was lost: may have arrived).
"""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..storage.db import utcnow_iso, write_transaction
from .channels import Message
from .planner import GroupHistory, Job

LOOKBACK = timedelta(days=8)   # how far back a restarted scheduler records missed slots
SENT_LIKE = ("sent", "unknown", "sending")


def record_heartbeat(db, at: float) -> None:
    """The scheduler's sign of life after every tick (wall-clock seconds), read by /healthz."""
    db.execute("INSERT INTO meta (key, value) VALUES ('scheduler_heartbeat', ?) "
               "ON CONFLICT(key) DO UPDATE SET value = excluded.value", [repr(float(at))])


def read_heartbeat(db) -> float | None:
    row = db.execute("SELECT value FROM meta WHERE key = 'scheduler_heartbeat'").fetchone()
    try:
        return float(row[0]) if row else None
    except ValueError:
        return None


class PushLog:
    def __init__(self, db_factory):
        self._db = db_factory

    def recover(self) -> int:
        """Rows left 'sending' by a crashed process become 'unknown' (never resent)."""
        db = self._db()
        with write_transaction(db):
            return db.execute("UPDATE pushes SET status = 'unknown', updated_at = ?, errmsg = "
                              "'发送时调度程序停了：可能已发出，不会自动重发' "
                              "WHERE status = 'sending'", [utcnow_iso()]).rowcount

    def window_start(self, now: datetime, grace: timedelta, tz: ZoneInfo) -> datetime:
        """From the last tick (so slots missed while down are seen), at most LOOKBACK back."""
        row = self._db().execute(
            "SELECT value FROM meta WHERE key = 'scheduler_last_tick'").fetchone()
        if not row or not row[0]:
            return now - grace          # first run ever: nothing counts as missed
        last = datetime.fromisoformat(row[0]).astimezone(tz)
        return max(min(last, now - grace), now - LOOKBACK)

    def mark_tick(self, now: datetime) -> None:
        self._db().execute("UPDATE meta SET value = ? WHERE key = 'scheduler_last_tick'",
                           [now.isoformat()])

    def history(self, group_ids) -> dict[str, GroupHistory]:
        """Every group's logged (slot, message) pairs and when it last got each tip."""
        out = {gid: GroupHistory() for gid in group_ids}
        for gid, slot, key, kind, item_id, status in self._db().execute(
                "SELECT group_id, slot, message_key, item_kind, item_id, status FROM pushes"):
            past = out.get(gid)
            if past is None:
                continue
            past.logged.add((slot, key))
            if status not in ("skipped", "missed"):
                day = slot[:10]     # the slot's local date (slots keep their local offset)
                past.per_day[day] = past.per_day.get(day, 0) + 1
            past.message_keys.add(key)
            if kind == "tip" and status in SENT_LIKE and slot > past.last_tip.get(item_id, ""):
                past.last_tip[item_id] = slot
        return out

    def has_live(self, group_id: str, message_key: str) -> bool:
        """Whether the group has a row for this message that is (or may be) a send."""
        return self._db().execute(
            "SELECT 1 FROM pushes WHERE group_id = ? AND message_key = ? AND status IN "
            "('sending', 'sent', 'unknown', 'failed') LIMIT 1", [group_id, message_key]
        ).fetchone() is not None

    def record(self, job: Job, status: str, errmsg: str = "") -> None:
        """A row for a job that is not sent (missed, skipped); ignored if the slot is taken."""
        now = utcnow_iso()
        self._db().execute(
            "INSERT OR IGNORE INTO pushes (group_id, slot, message_key, item_kind, item_id, "
            "channel, status, errmsg, attempts, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            [job.group.id, job.slot.isoformat(), job.message_key, job.item_kind, job.item_id,
             job.group.channel, status, errmsg, now, now])

    def due_retries(self, now: datetime, max_attempts: int) -> list[tuple]:
        """(id, group_id, slot, message_key, item_kind, item_id, message) of failed pushes
        whose backoff has passed."""
        rows = self._db().execute(
            "SELECT id, group_id, slot, message_key, item_kind, item_id, text FROM pushes "
            "WHERE status = 'failed' AND next_attempt_at IS NOT NULL AND next_attempt_at <= ? "
            "AND attempts < ?", [now.isoformat(), max_attempts]).fetchall()
        return [(*r[:6], Message(**json.loads(r[6]))) for r in rows]

    def give_up(self, push_id: int, reason: str) -> None:
        self._db().execute("UPDATE pushes SET next_attempt_at = NULL, errmsg = errmsg || ' / ' "
                           "|| ?, updated_at = ? WHERE id = ?", [reason, utcnow_iso(), push_id])

    def claim(self, job: Job) -> bool:
        """Write the attempt before sending. False if the slot is already taken."""
        db, now = self._db(), utcnow_iso()
        text = json.dumps({"title": job.message.title, "text": job.message.text,
                           "markdown": job.message.markdown}, ensure_ascii=False)
        with write_transaction(db):
            if job.push_id is None:
                try:
                    job.push_id = db.execute(
                        "INSERT INTO pushes (group_id, slot, message_key, item_kind, item_id, "
                        "channel, status, attempts, text, created_at, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, 'sending', 1, ?, ?, ?)",
                        [job.group.id, job.slot.isoformat(), job.message_key, job.item_kind,
                         job.item_id, job.group.channel, text, now, now]).lastrowid
                except sqlite3.IntegrityError:
                    return False
                return True
            return db.execute("UPDATE pushes SET status = 'sending', attempts = attempts + 1, "
                              "updated_at = ? WHERE id = ? AND status = 'failed'",
                              [now, job.push_id]).rowcount == 1

    def sent(self, job: Job, errcode, errmsg: str) -> None:
        now = utcnow_iso()
        self._db().execute(
            "UPDATE pushes SET status = 'sent', errcode = ?, errmsg = ?, sent_at = ?, "
            "updated_at = ?, next_attempt_at = NULL WHERE id = ?",
            [errcode, errmsg, now, now, job.push_id])

    def unknown(self, job: Job, errcode, errmsg: str) -> None:
        """The send may have been carried out: never resent automatically."""
        self._db().execute(
            "UPDATE pushes SET status = 'unknown', errcode = ?, errmsg = ?, updated_at = ?, "
            "next_attempt_at = NULL WHERE id = ?",
            [errcode, errmsg if "可能已送达" in errmsg else f"{errmsg}（可能已送达，不会自动重发）",
             utcnow_iso(), job.push_id])

    def attempts(self, job: Job) -> int:
        return self._db().execute("SELECT attempts FROM pushes WHERE id = ?",
                                  [job.push_id]).fetchone()[0]

    def failed(self, job: Job, errcode, errmsg: str, next_attempt_at: str | None) -> None:
        self._db().execute("UPDATE pushes SET status = 'failed', errcode = ?, errmsg = ?, "
                           "next_attempt_at = ?, updated_at = ? WHERE id = ?",
                           [errcode, errmsg, next_attempt_at, utcnow_iso(), job.push_id])

