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
from .planner import Job, Plan, alert_jobs, plan
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
                self.log.give_up(push_id, "停止重试：群已从配置中删除，或已过宽限期")
                continue
            jobs.append(Job(group, slot, key, kind, item_id, message, push_id=push_id))
        return jobs

    # -- running ----------------------------------------------------------------------------
    def healthy(self, group) -> bool:
        return is_healthy(group, health_row(self._db(), group.id))

    def deliver(self, job: Job, now: datetime) -> str:
        if not self.healthy(job.group):
            if job.push_id is None:
                why = job.group.problem or "群不健康（机器人 key 被企业微信拒绝），没有发送"
                log.warning("group %s skipped: %s", job.group.id, why)
                self.log.record(job, "skipped", why)
            return "skipped"
        if not self.log.claim(job):
            return "taken"
        try:
            result = self.channels[job.group.channel].send(job.group, job.message, job.push_id)
        except Exception as exc:  # noqa: BLE001 - a channel bug must not stop other groups
            log.exception("channel %s failed for group %s", job.group.channel, job.group.id)
            result = SendResult(ok=False, errmsg=f"程序内部错误（{type(exc).__name__}）")
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
            log.warning("push %s to group %s may have arrived (%s): unknown, not resent",
                        job.push_id, job.group.id, result.errmsg)
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
                            f"推送时间过后 {self.settings.scheduler.grace_hours} 小时内调度程序都没有运行")
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

    def push_now(self, group, now: datetime, tip_id: str | None = None) -> tuple[Job | None, str]:
        """Send a group's next tip (or the tip ``tip_id``) immediately, recorded like any push
        (key 'manual:<time>'). (None, why) when there is nothing to send."""
        now = now.astimezone(self.tz).replace(microsecond=0)
        library = load_library(self._db(), self.settings.content.dir)
        if tip_id:
            tip = library.tip(tip_id)
            if tip is None:
                return None, f"没有已发布的提示“{tip_id}”"
        else:
            past = self.log.history([group.id])[group.id]
            tip = choose_tip_for(group, now, library.tips, past.last_tip)
            if tip is None:
                return None, "没有适合这个群的提示"
        job = Job(group, now, f"manual:{now.isoformat()}", "tip", tip.id, render_tip(tip))
        return job, self.send_jobs([job], now)[0][1]

    def skip_reason(self, group, chinese: bool = True) -> str | None:
        """Why ``group`` is skipped now (None: it is healthy), for the console or the CLI."""
        row = health_row(self._db(), group.id)
        if is_healthy(group, row):
            return None
        try:
            since = datetime.fromisoformat(row["updated_at"]).astimezone(self.tz) \
                .strftime("%Y-%m-%d %H:%M")
        except (TypeError, ValueError):
            since = "?"
        if chinese:
            return (f"群“{group.name}”不健康，已跳过：企业微信回答 errcode {row['errcode']} "
                    f"{row['reason'] or ''}（{since} 起）。换了机器人 key，或在推送页点"
                    f"“已修好，恢复推送”后再发。")
        return (f"group {group.id} is unhealthy since {since} (WeCom errcode "
                f"{row['errcode']}: {row['reason'] or ''}); fix its robot key, or mark it "
                f"healthy on the pushes page, then push again")

    def send_alert_now(self, alert_id: int, now: datetime,
                       group_ids: list[str] | None = None) -> list[NowOutcome]:
        """Send 本周预警 ``alert_id`` to its groups (or those of ``group_ids`` it targets) now,
        not at their next slot. Recorded with the alert's key, so neither this nor the planner
        sends it to a group twice (a partial UNIQUE index keeps one live row per group)."""
        now = now.astimezone(self.tz).replace(microsecond=0)
        alert = next((a for a in active_alerts(self._db()) if a.id == alert_id), None)
        if alert is None:
            raise LookupError(f"没有进行中的本周预警 #{alert_id}")
        groups = [g for g in self.settings.groups if alert.targets(g.id)
                  and (group_ids is None or g.id in group_ids)]
        library = load_library(self._db(), self.settings.content.dir)
        # An alert made this second is not "after" now: compare at the alert's own time.
        slot = max(now, datetime.fromisoformat(alert.created_at).astimezone(self.tz))
        results, jobs = [], []
        for group in groups:
            key = f"alert:{alert.id}"
            if self.log.has_live(group.id, key):
                results.append(NowOutcome(group, "already", alert.item_id,
                                          "这个群已经收到（或正在发送）这条预警"))
                continue
            reason = self.skip_reason(group)
            if reason:
                results.append(NowOutcome(group, "skipped", alert.item_id, reason))
                continue
            job = next(iter(alert_jobs(group, slot, [alert], set(), library,
                                       self.settings.server.public_url)), None)
            if job is None:
                results.append(NowOutcome(group, "none", alert.item_id,
                                          "预警的内容已经不是“已发布”状态"))
                continue
            jobs.append(job)
        if jobs:
            for job, outcome in self.send_jobs(jobs, now):
                results.append(NowOutcome(job.group, outcome, job.item_id,
                                          self._outcome_text(job, outcome), job.push_id))
        order = {g.id: i for i, g in enumerate(self.settings.groups)}
        return sorted(results, key=lambda r: order.get(r.group.id, 0))

    def _outcome_text(self, job: Job, outcome: str) -> str:
        if outcome == "sent":
            return "已发送"
        if outcome == "taken":
            return "这个群已经收到（或正在发送）这条预警"
        if outcome == "skipped":
            return self.skip_reason(job.group) or "已跳过"
        row = self._db()["pushes"].get(job.push_id) if job.push_id else None
        detail = f"：errcode {row['errcode']} {row['errmsg'] or ''}" if row and \
            row["errcode"] is not None else (f"：{row['errmsg']}" if row and row["errmsg"] else "")
        return "发送失败，调度程序会自动重试" + detail


@dataclass
class NowOutcome:
    """What happened to one group in a send-now: sent, failed, skipped, already, none, taken."""
    group: object
    outcome: str
    item_id: str = ""
    reason: str = ""
    push_id: int | None = None
