"""Delivering weekly tips and alerts to group chats, exactly once: ``Pusher`` executes what the
planner says is due, recording every attempt in the push log (see ``push_log``) before it sends.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..storage.library import load_library
from .alerts import active_alerts
from .channels import SendResult, build_channels
from .health import health_row, is_healthy, mark_unhealthy
from .planner import Job, Plan, plan
from .push_log import PushLog
from .tips import choose_tip_for, render_tip

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    sent: int = 0
    failed: int = 0
    missed: int = 0
    skipped: int = 0
    retried: int = 0
    unknown: int = 0
    follow_up: dict = field(default_factory=dict)   # counts from the channels' follow-ups
    details: list = field(default_factory=list)


class Pusher:
    """Sends what is due at ``now``. Time is always a parameter."""

    def __init__(self, settings, db_factory, clock, sleep):
        self.settings = settings
        self.tz = ZoneInfo(settings.scheduler.timezone)
        self.grace = timedelta(hours=settings.scheduler.grace_hours)
        self._db = db_factory
        self.log = PushLog(db_factory)
        self.channels = build_channels(settings, db_factory, clock, sleep)

    def recover(self) -> int:
        """Rows left 'sending' by a crashed process become 'unknown' (never resent)."""
        n = self.log.recover()
        if n:
            log.warning("%d push(es) were interrupted mid-send and are marked unknown", n)
        return n

    def plan(self, window: tuple[datetime, datetime], now: datetime) -> Plan:
        """What is due in ``window``, from the published content and the push log now."""
        db = self._db()
        return plan(self.settings.groups, window,
                    load_library(db, self.settings.content.dir),
                    self.log.history(g.id for g in self.settings.groups), active_alerts(db),
                    now, grace=self.grace, tz=self.tz,
                    public_url=self.settings.server.public_url,
                    per_day={"wecom_customer_group":
                             self.settings.wecom.customer_group_per_day})

    def retry_jobs(self, now: datetime) -> list[Job]:
        """Failed pushes whose backoff has passed, still within the grace period."""
        jobs = []
        for push_id, group_id, slot, key, kind, item_id, message in self.log.due_retries(
                now, self.settings.scheduler.max_attempts):
            group = self.settings.group(group_id)
            slot = datetime.fromisoformat(slot)
            if group is None or now - slot > self.grace:
                self.log.give_up(push_id, "retries stopped: group removed or grace period over")
                continue
            jobs.append(Job(group, slot, key, kind, item_id, message, push_id=push_id))
        return jobs

    # -- running ----------------------------------------------------------------------------
    def healthy(self, group) -> bool:
        return is_healthy(group, health_row(self._db(), group.id))

    def deliver(self, job: Job, now: datetime) -> str:
        if not self.healthy(job.group):
            if job.push_id is None:
                self.log.record(job, "skipped", "group unhealthy: fix its robot key")
            return "skipped"
        if not self.log.claim(job):
            return "taken"
        try:
            result = self.channels[job.group.channel].send(job.group, job.message, job.push_id)
        except Exception as exc:  # noqa: BLE001 - a channel bug must not stop other groups
            log.exception("channel %s failed for group %s", job.group.channel, job.group.id)
            result = SendResult(ok=False, errmsg=f"internal error: {type(exc).__name__}")
        return self._finish(job, result, now)

    def deliver_batch(self, channel, jobs: list[Job], now: datetime) -> list[str]:
        """Claim each job, then hand the claimed ones to a batching channel together."""
        outcomes: dict[int, str] = {}
        claimed = []
        for i, job in enumerate(jobs):
            if not self.healthy(job.group):
                if job.push_id is None:
                    self.log.record(job, "skipped", "group unhealthy: see the pushes page")
                outcomes[i] = "skipped"
            elif not self.log.claim(job):
                outcomes[i] = "taken"
            else:
                claimed.append((i, job))
        if claimed:
            try:
                results = channel.send_batch([job for _, job in claimed], now)
            except Exception as exc:  # noqa: BLE001 - a channel bug must not stop other groups
                log.exception("channel %s failed", channel.name)
                # It may have sent part of the batch: never resend automatically.
                results = [SendResult(ok=False, uncertain=True,
                                      errmsg=f"internal error: {type(exc).__name__}")] * len(claimed)
            for (i, job), result in zip(claimed, results):
                outcomes[i] = self._finish(job, result, now)
        return [outcomes[i] for i in range(len(jobs))]

    def _finish(self, job: Job, result: SendResult, now: datetime) -> str:
        if result.ok:
            self.log.sent(job, result.errcode, result.errmsg)
            return "sent"
        if result.uncertain:
            self.log.unknown(job, result.errcode, result.errmsg)
            return "unknown"
        attempts = self.log.attempts(job)
        next_at = None
        if not result.permanent and attempts < self.settings.scheduler.max_attempts:
            delay = result.retry_after or \
                self.settings.scheduler.retry_backoff_seconds * 2 ** (attempts - 1)
            next_at = (now + timedelta(seconds=delay)).isoformat()
        self.log.failed(job, result.errcode, result.errmsg, next_at)
        if result.permanent:
            mark_unhealthy(self._db(), job.group, result.errcode, result.errmsg)
        return "failed"

    def run_due(self, now: datetime) -> TickReport:
        """One scheduler tick: send what is due at ``now``, retry what may be retried."""
        now = now.astimezone(self.tz)
        report = TickReport()
        due = self.plan((self.log.window_start(now, self.grace, self.tz), now), now)
        for job in due.missed:
            self.log.record(job, "missed",
                            f"scheduler was not running within {self.grace} of the slot")
        for job, why in due.skipped:
            self.log.record(job, "skipped", why)
        report.missed, report.skipped = len(due.missed), len(due.skipped)
        retries = self.retry_jobs(now)
        report.retried = len(retries)
        jobs = due.jobs + retries
        if jobs:
            for job, outcome in self.send_jobs(jobs, now):
                if outcome in ("sent", "failed", "skipped", "unknown"):
                    setattr(report, outcome, getattr(report, outcome) + 1)
                report.details.append((job.group.id, job.slot.isoformat(), job.message_key,
                                       job.item_id, outcome))
        report.follow_up = self.follow_up(now)
        self.log.mark_tick(now)
        return report

    def send_jobs(self, jobs: list[Job], now: datetime) -> list[tuple[Job, str]]:
        """Send jobs concurrently: one task per job for plain channels, one per batching
        channel (which groups its jobs by owner or grid worker itself)."""
        single, batches = [], {}
        for job in jobs:
            if getattr(self.channels[job.group.channel], "batched", False):
                batches.setdefault(job.group.channel, []).append(job)
            else:
                single.append(job)
        tasks = [(lambda j=j: [(j, self.deliver(j, now))]) for j in single] + \
            [(lambda name=name, js=js: list(zip(js, self.deliver_batch(self.channels[name], js,
                                                                        now))))
             for name, js in batches.items()]
        workers = min(self.settings.scheduler.max_concurrent_sends, len(tasks))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="push") as pool:
            return [pair for done in pool.map(lambda task: task(), tasks) for pair in done]

    def follow_up(self, now: datetime) -> dict[str, int]:
        """The batching channels' work after the send: polls, reminders, expiry."""
        counts: dict[str, int] = {}
        for channel in self.channels.values():
            if hasattr(channel, "follow_up"):
                try:
                    counts.update(channel.follow_up(now))
                except Exception:  # noqa: BLE001 - the next tick tries again
                    log.exception("follow-up of channel %s failed", channel.name)
        return counts

    def push_now(self, group, now: datetime) -> tuple[Job | None, str]:
        """Send a group's next tip immediately (recorded like any push, key 'manual:<time>')."""
        now = now.astimezone(self.tz).replace(microsecond=0)
        library = load_library(self._db(), self.settings.content.dir)
        past = self.log.history([group.id])[group.id]
        tip = choose_tip_for(group, now, library.tips, past.last_tip)
        if tip is None:
            return None, "no tip fits this group"
        job = Job(group, now, f"manual:{now.isoformat()}", "tip", tip.id, render_tip(tip))
        return job, self.send_jobs([job], now)[0][1]
