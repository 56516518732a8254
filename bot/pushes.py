"""Delivering weekly tips and alerts to group chats, exactly once, with the push log as truth.

For each (group, slot, message) the log row is written *before* the send (status ``sending``)
and updated after it. The UNIQUE key on (group_id, slot, message_key) makes a second send of the
same slot impossible to record, so impossible to make. A crash between send and record leaves
``sending``; the next start turns it into ``unknown``, which is shown to admins and never resent
(WeCom has no idempotency key: resending could post the tip twice).

Statuses: sending → sent | failed (retried with backoff, bounded) ; skipped (group unhealthy or
nothing to send) ; missed (the slot passed while the scheduler was down, beyond the grace
period) ; unknown (crashed mid-send).
"""
from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .channels import Message, SendResult, build_channels
from .db import utcnow_iso, write_transaction
from .groups import slots_between
from .tips import Library, choose_tip_for, render_case_alert, render_tip

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=8)   # how far back a restarted scheduler records missed slots
SENT_LIKE = ("sent", "unknown", "sending")


@dataclass
class Job:
    group: object
    slot: datetime
    message_key: str
    item_kind: str = ""
    item_id: str = ""
    message: Message | None = None
    push_id: int | None = None


@dataclass
class TickReport:
    sent: int = 0
    failed: int = 0
    missed: int = 0
    skipped: int = 0
    retried: int = 0
    details: list = field(default_factory=list)


def key_fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12] if key else ""


def is_healthy(group, health_row: dict | None) -> bool:
    """Unhealthy only while marked so with the same robot key: a changed key (config fixed) or
    an admin's reset makes it healthy again. Used by the scheduler and the admin pages."""
    return (health_row is None or bool(health_row["healthy"])
            or health_row["key_fingerprint"] != key_fingerprint(group.robot_key))


class Pusher:
    """Decides what is due at ``now`` and delivers it. Time is always a parameter."""

    def __init__(self, settings, db_factory, clock, sleep):
        self.settings = settings
        self.tz = ZoneInfo(settings.scheduler.timezone)
        self.grace = timedelta(hours=settings.scheduler.grace_hours)
        self._db = db_factory
        self.channels = build_channels(settings, db_factory, clock, sleep)

    # -- start-up ---------------------------------------------------------------------------
    def recover(self) -> int:
        """Rows left 'sending' by a crashed process become 'unknown' (never resent)."""
        db = self._db()
        with write_transaction(db):
            n = db.execute("UPDATE pushes SET status = 'unknown', updated_at = ?, errmsg = "
                           "'scheduler stopped during the send; not resent' "
                           "WHERE status = 'sending'", [utcnow_iso()]).rowcount
        if n:
            log.warning("%d push(es) were interrupted mid-send and are marked unknown", n)
        return n

    # -- planning ---------------------------------------------------------------------------
    def _window_start(self, now: datetime) -> datetime:
        row = self._db().execute("SELECT value FROM meta WHERE key = 'scheduler_last_tick'").fetchone()
        if not row or not row[0]:
            return now - self.grace          # first run ever: nothing counts as missed
        last = datetime.fromisoformat(row[0]).astimezone(self.tz)
        return max(min(last, now - self.grace), now - LOOKBACK)

    def _existing(self, group_id: str) -> dict[tuple[str, str], str]:
        rows = self._db().execute("SELECT slot, message_key, status FROM pushes WHERE group_id = ?",
                                  [group_id]).fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    def _history(self, group_id: str) -> dict[str, str]:
        rows = self._db().execute(
            "SELECT item_id, MAX(slot) FROM pushes WHERE group_id = ? AND item_kind = 'tip' "
            f"AND status IN ({','.join('?' * len(SENT_LIKE))}) GROUP BY item_id",
            [group_id, *SENT_LIKE]).fetchall()
        return {r[0]: r[1] for r in rows}

    def _alerts_for(self, group_id: str) -> list[dict]:
        rows = self._db().execute(
            "SELECT id, item_kind, item_id, groups, created_at FROM alerts WHERE active = 1 "
            "AND NOT EXISTS (SELECT 1 FROM pushes p WHERE p.group_id = ? AND "
            "p.message_key = 'alert:' || alerts.id) ORDER BY id", [group_id]).fetchall()
        out = []
        for r in rows:
            targets = json.loads(r[3]) if r[3] else None
            if targets is None or group_id in targets:
                out.append({"id": r[0], "item_kind": r[1], "item_id": r[2], "created_at": r[4]})
        return out

    def plan(self, now: datetime, library: Library) -> tuple[list[Job], TickReport]:
        """New jobs for due slots; missed slots recorded; unhealthy groups skipped."""
        report = TickReport()
        start = self._window_start(now)
        jobs: list[Job] = []
        for group in self.settings.groups:
            existing = self._existing(group.id)
            history = None
            for slot in slots_between(group, start, now, self.tz):
                slot_iso = slot.isoformat()
                if (slot_iso, "tip") in existing:
                    continue
                if now - slot > self.grace:
                    self._record(group, slot, "tip", "missed",
                                 errmsg=f"scheduler was not running within {self.grace} of the slot")
                    report.missed += 1
                    continue
                if history is None:
                    history = self._history(group.id)
                tip = choose_tip_for(group, slot, library.tips, history)
                if tip is None:
                    self._record(group, slot, "tip", "skipped", errmsg="no tip fits this group")
                    report.skipped += 1
                else:
                    history[tip.id] = slot_iso
                    jobs.append(Job(group, slot, "tip", "tip", tip.id, render_tip(tip)))
                jobs += self._alert_jobs(group, slot, library)
        return jobs, report

    def _alert_jobs(self, group, slot: datetime, library: Library) -> list[Job]:
        jobs = []
        for alert in self._alerts_for(group.id):
            if datetime.fromisoformat(alert["created_at"]) > slot:
                continue   # made after this slot: it goes at the group's next one
            if alert["item_kind"] == "case":
                article = library.articles.get(alert["item_id"])
                message = article and render_case_alert(article, self.settings.server.public_url)
            else:
                tip = library.tip(alert["item_id"])
                message = tip and render_tip(tip, alert=True)
            if message:
                jobs.append(Job(group, slot, f"alert:{alert['id']}", alert["item_kind"],
                                alert["item_id"], message))
        return jobs

    def retry_jobs(self, now: datetime, library: Library) -> list[Job]:
        """Failed pushes whose backoff has passed, still within the grace period."""
        rows = self._db().execute(
            "SELECT id, group_id, slot, message_key, item_kind, item_id, text FROM pushes "
            "WHERE status = 'failed' AND next_attempt_at IS NOT NULL AND next_attempt_at <= ? "
            "AND attempts < ?", [now.isoformat(), self.settings.scheduler.max_attempts]).fetchall()
        jobs = []
        for r in rows:
            group = self.settings.group(r[1])
            slot = datetime.fromisoformat(r[2])
            if group is None or now - slot > self.grace:
                self._give_up(r[0], "retries stopped: group removed or grace period over")
                continue
            message = Message(**json.loads(r[6]))
            jobs.append(Job(group, slot, r[3], r[4], r[5], message, push_id=r[0]))
        return jobs

    # -- recording --------------------------------------------------------------------------
    def _record(self, group, slot: datetime, message_key: str, status: str, errmsg: str = "",
                item_kind: str = "", item_id: str = "") -> None:
        now = utcnow_iso()
        self._db().execute(
            "INSERT OR IGNORE INTO pushes (group_id, slot, message_key, item_kind, item_id, "
            "channel, status, errmsg, attempts, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            [group.id, slot.isoformat(), message_key, item_kind, item_id, group.channel, status,
             errmsg, now, now])

    def _give_up(self, push_id: int, reason: str) -> None:
        self._db().execute("UPDATE pushes SET next_attempt_at = NULL, errmsg = errmsg || ' / ' "
                           "|| ?, updated_at = ? WHERE id = ?", [reason, utcnow_iso(), push_id])

    def _claim(self, job: Job) -> bool:
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

    def _finish(self, job: Job, result: SendResult, now: datetime) -> str:
        db = self._db()
        if result.ok:
            db.execute("UPDATE pushes SET status = 'sent', errcode = ?, errmsg = ?, sent_at = ?, "
                       "updated_at = ?, next_attempt_at = NULL WHERE id = ?",
                       [result.errcode, result.errmsg, utcnow_iso(), utcnow_iso(), job.push_id])
            return "sent"
        attempts = db.execute("SELECT attempts FROM pushes WHERE id = ?", [job.push_id]).fetchone()[0]
        next_at = None
        if not result.permanent and attempts < self.settings.scheduler.max_attempts:
            delay = result.retry_after or self.settings.scheduler.retry_backoff_seconds * 2 ** (attempts - 1)
            next_at = (now + timedelta(seconds=delay)).isoformat()
        db.execute("UPDATE pushes SET status = 'failed', errcode = ?, errmsg = ?, "
                   "next_attempt_at = ?, updated_at = ? WHERE id = ?",
                   [result.errcode, result.errmsg, next_at, utcnow_iso(), job.push_id])
        if result.permanent:
            self.mark_unhealthy(job.group, result)
        return "failed"

    # -- health -----------------------------------------------------------------------------
    def healthy(self, group) -> bool:
        """See is_healthy."""
        row = next(self._db()["group_health"].rows_where("group_id = ?", [group.id]), None)
        return is_healthy(group, row)

    def mark_unhealthy(self, group, result: SendResult) -> None:
        log.error("group %s marked unhealthy: errcode %s %s", group.id, result.errcode,
                  result.errmsg)
        self._db()["group_health"].upsert({
            "group_id": group.id, "healthy": 0, "reason": result.errmsg,
            "errcode": result.errcode, "key_fingerprint": key_fingerprint(group.robot_key),
            "updated_at": utcnow_iso()}, pk="group_id")

    # -- running ----------------------------------------------------------------------------
    def deliver(self, job: Job, now: datetime) -> str:
        if not self.healthy(job.group):
            if job.push_id is None:
                self._record(job.group, job.slot, job.message_key, "skipped",
                             errmsg="group unhealthy: fix its robot key", item_kind=job.item_kind,
                             item_id=job.item_id)
            return "skipped"
        if not self._claim(job):
            return "taken"
        try:
            result = self.channels[job.group.channel].send(job.group, job.message, job.push_id)
        except Exception as exc:  # noqa: BLE001 - a channel bug must not stop other groups
            log.exception("channel %s failed for group %s", job.group.channel, job.group.id)
            result = SendResult(ok=False, errmsg=f"internal error: {type(exc).__name__}")
        return self._finish(job, result, now)

    def run_due(self, now: datetime) -> TickReport:
        """One scheduler tick: send what is due at ``now``, retry what may be retried."""
        now = now.astimezone(self.tz)
        library = Library.load(self._db(), self.settings.content.dir)
        jobs, report = self.plan(now, library)
        retries = self.retry_jobs(now, library)
        report.retried = len(retries)
        jobs += retries
        if jobs:
            workers = min(self.settings.scheduler.max_concurrent_sends, len(jobs))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="push") as pool:
                outcomes = list(pool.map(lambda j: self.deliver(j, now), jobs))
            for job, outcome in zip(jobs, outcomes):
                if outcome in ("sent", "failed", "skipped"):
                    setattr(report, outcome, getattr(report, outcome) + 1)
                report.details.append((job.group.id, job.slot.isoformat(), job.message_key,
                                       job.item_id, outcome))
        self._db().execute("UPDATE meta SET value = ? WHERE key = 'scheduler_last_tick'",
                           [now.isoformat()])
        return report

    def push_now(self, group, now: datetime) -> tuple[Job | None, str]:
        """Send a group's next tip immediately (recorded like any push, key 'manual:<time>')."""
        now = now.astimezone(self.tz).replace(microsecond=0)
        library = Library.load(self._db(), self.settings.content.dir)
        tip = choose_tip_for(group, now, library.tips, self._history(group.id))
        if tip is None:
            return None, "no tip fits this group"
        job = Job(group, now, f"manual:{now.isoformat()}", "tip", tip.id, render_tip(tip))
        return job, self.deliver(job, now)
