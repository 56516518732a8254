"""Each group's weekly send times as APScheduler ``CronTrigger``s, used as pure functions:
``slots_between(group, start, end, tz)`` lists the slot times in a window (the schedule entries
themselves, like ``"mon 09:00"``, are parsed and validated with the config).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from ..config import GroupSettings, parse_slot

_ONE_MINUTE = timedelta(minutes=1)

def triggers_for(group: GroupSettings, tz: ZoneInfo) -> list[CronTrigger]:
    out = []
    for entry in group.schedule:
        day, hour, minute = parse_slot(entry)
        out.append(CronTrigger(day_of_week=day, hour=hour, minute=minute, timezone=tz))
    return out


def slots_between(group: GroupSettings, start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """Slot times t with start <= t <= end, oldest first (aware datetimes in ``tz``)."""
    slots = []
    for trigger in triggers_for(group, tz):
        t = trigger.get_next_fire_time(None, start)
        while t is not None and t <= end:
            slots.append(t)
            t = trigger.get_next_fire_time(t, t + _ONE_MINUTE)
    return sorted(set(slots))


def next_slot(group: GroupSettings, after: datetime, tz: ZoneInfo) -> datetime:
    """The first slot strictly after ``after``."""
    return min(t.get_next_fire_time(None, after + timedelta(seconds=1)) for t in triggers_for(group, tz))

