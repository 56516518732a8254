"""What is due: a pure function of the groups, a time window, the published library, each
group's push history, the active alerts and ``now``. The scheduler's tick, ``push`` and
``scheduler.py --dry-run`` all plan with it, so the dry run shows exactly what a tick would send.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..content.model import Library
from .alerts import Alert
from .channels import Message
from .schedule import slots_between
from .tips import choose_tip_for, render_case_alert, render_tip


@dataclass
class Job:
    """One message for one group's slot; ``push_id`` once it has a row in the push log."""
    group: object
    slot: datetime
    message_key: str          # 'tip', 'alert:<id>' or 'manual:<time>'
    item_kind: str = ""
    item_id: str = ""
    message: Message | None = None
    push_id: int | None = None


@dataclass
class GroupHistory:
    """A group's push log, as the planner needs it."""
    logged: set[tuple[str, str]] = field(default_factory=set)   # (slot iso, message_key)
    message_keys: set[str] = field(default_factory=set)         # an alert goes once per group
    last_tip: dict[str, str] = field(default_factory=dict)      # tip id -> latest slot iso
    per_day: dict[str, int] = field(default_factory=dict)       # local date -> messages logged


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    missed: list[Job] = field(default_factory=list)      # slots past the grace period
    skipped: list[tuple[Job, str]] = field(default_factory=list)   # (job, why)


def plan(groups, window: tuple[datetime, datetime], library: Library,
         history: dict[str, GroupHistory], alerts: list[Alert], now: datetime, *,
         grace: timedelta, tz: ZoneInfo, public_url: str,
         per_day: dict[str, int] | None = None) -> Plan:
    """Jobs for every slot in ``window`` not yet in the log; slots older than ``grace`` before
    ``now`` are missed. ``per_day`` caps the messages a group may get per local day by channel
    (a customer group takes so many mass sends a day): an alert goes first and the slot's tip
    is skipped; an alert over the cap waits for the group's next slot on another day. Nothing
    here reads the clock or the database."""
    result = Plan()
    start, end = window
    for group in groups:
        past = history.get(group.id) or GroupHistory()
        last_tip = dict(past.last_tip)
        alerted = set(past.message_keys)
        cap = (per_day or {}).get(group.channel)
        used = dict(past.per_day)
        for slot in slots_between(group, start, end, tz):
            slot_iso = slot.isoformat()
            day = slot_iso[:10]
            if (slot_iso, "tip") in past.logged:
                continue
            if now - slot > grace:
                result.missed.append(Job(group, slot, "tip"))
                continue
            for job in alert_jobs(group, slot, alerts, alerted, library, public_url):
                if cap is not None and used.get(day, 0) >= cap:
                    break           # not recorded: it goes at the next slot with room
                alerted.add(job.message_key)
                used[day] = used.get(day, 0) + 1
                result.jobs.append(job)
            tip = choose_tip_for(group, slot, library.tips, last_tip)
            if tip is None:
                result.skipped.append((Job(group, slot, "tip"), "没有适合这个群的提示"))
            elif cap is not None and used.get(day, 0) >= cap:
                result.skipped.append((Job(group, slot, "tip", "tip", tip.id),
                                       f"这个群 {day} 已经有 {cap} 条消息了（企业微信：客户群每天最多 "
                                       f"{cap} 条群发）"))
            else:
                last_tip[tip.id] = slot_iso
                used[day] = used.get(day, 0) + 1
                result.jobs.append(Job(group, slot, "tip", "tip", tip.id, render_tip(tip)))
    return result


def alert_jobs(group, slot: datetime, alerts: list[Alert], alerted: set[str], library: Library,
               public_url: str) -> list[Job]:
    """The alerts this group has not had and that were made before ``slot``."""
    jobs = []
    for alert in alerts:
        key = f"alert:{alert.id}"
        if key in alerted or not alert.targets(group.id) \
                or datetime.fromisoformat(alert.created_at) > slot:
            continue   # already sent, not for this group, or made after the slot: next one
        if alert.item_kind == "case":
            article = library.articles.get(alert.item_id)
            message = article and render_case_alert(article, public_url)
        else:
            tip = library.tip(alert.item_id)
            message = tip and render_tip(tip, alert=True)
        if message:
            jobs.append(Job(group, slot, key, alert.item_kind, alert.item_id, message))
    return jobs
