"""Group chats and their weekly send times, from the ``[[groups]]`` tables of config.toml.

A schedule entry is a weekday and a time in the scheduler's time zone: ``"mon 09:00"``,
``"thu 19:30"`` (or 周一..周日). Each becomes an APScheduler ``CronTrigger``, used as a pure
function: ``slots_between(group, start, end)`` lists the slot times in a window.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Mapping
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from .config import GroupSettings
from .content import AUDIENCES
from .errors import ConfigError

CHANNELS = ("outbox", "wecom_robot")
MSGTYPES = ("text", "markdown")
_DAYS = {"mon": "mon", "tue": "tue", "wed": "wed", "thu": "thu", "fri": "fri", "sat": "sat",
         "sun": "sun", "周一": "mon", "周二": "tue", "周三": "wed", "周四": "thu", "周五": "fri",
         "周六": "sat", "周日": "sun", "周天": "sun"}
_SLOT_RE = re.compile(r"^\s*(\S+)\s+([01]?\d|2[0-3]):([0-5]\d)\s*$")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_ONE_MINUTE = timedelta(minutes=1)
GROUP_KEYS = {"id", "name", "area", "audiences", "schedule", "channel", "msgtype", "robot_key",
         "robot_key_env", "mentioned_list", "mentioned_mobile_list"}


def parse_slot(entry: str) -> tuple[str, int, int]:
    """'mon 09:00' -> ('mon', 9, 0); ValueError for anything else."""
    m = _SLOT_RE.match(entry or "")
    if not m or m.group(1).lower() not in _DAYS:
        raise ValueError(f"'{entry}' is not like 'mon 09:00' (weekday mon..sun or 周一..周日, 24h time)")
    return _DAYS[m.group(1).lower()], int(m.group(2)), int(m.group(3))


def _strings(where: str, value, allowed=None) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: must be a list of strings")
    for v in value:
        if allowed and v not in allowed:
            raise ConfigError(f"{where}: unknown value '{v}' (one of: {', '.join(allowed)})")
    return tuple(value)


def parse_groups(raw: list, environ: Mapping[str, str]) -> tuple[GroupSettings, ...]:
    """Validate ``[[groups]]``; errors name the group and key (``groups[2].schedule: ...``)."""
    if not isinstance(raw, list):
        raise ConfigError("groups: must be an array of tables ([[groups]])")
    groups, seen = [], set()
    for i, g in enumerate(raw):
        where = f"groups[{i}]"
        if not isinstance(g, dict):
            raise ConfigError(f"{where}: must be a table")
        for key in g:
            if key not in GROUP_KEYS:
                raise ConfigError(f"{where}.{key}: unknown key")
        gid = g.get("id")
        if not isinstance(gid, str) or not _ID_RE.match(gid):
            raise ConfigError(f"{where}.id: must be lowercase letters, digits, '-' or '_'")
        if gid in seen:
            raise ConfigError(f"{where}.id: duplicate group id '{gid}'")
        seen.add(gid)
        where = f"groups[{i}] ({gid})"
        schedule = _strings(f"{where}.schedule", g.get("schedule", []))
        if not schedule:
            raise ConfigError(f"{where}.schedule: needs at least one weekly send time")
        for entry in schedule:
            try:
                parse_slot(entry)
            except ValueError as exc:
                raise ConfigError(f"{where}.schedule: {exc}") from None
        channel = g.get("channel", "outbox")
        if channel not in CHANNELS:
            raise ConfigError(f"{where}.channel: unknown channel '{channel}' "
                              f"(one of: {', '.join(CHANNELS)})")
        msgtype = g.get("msgtype", "text")
        if msgtype not in MSGTYPES:
            raise ConfigError(f"{where}.msgtype: must be 'text' or 'markdown'")
        key_env = g.get("robot_key_env", "")
        key = environ.get(key_env, "") if key_env else g.get("robot_key", "")
        if channel == "wecom_robot" and not key:
            raise ConfigError(f"{where}.robot_key_env: channel wecom_robot needs the robot key, "
                              f"set in the environment variable named by robot_key_env"
                              + (f" ({key_env} is empty)" if key_env else ""))
        groups.append(GroupSettings(
            id=gid, name=str(g.get("name") or gid), area=str(g.get("area", "")),
            audiences=_strings(f"{where}.audiences", g.get("audiences", ["general"]), AUDIENCES),
            schedule=schedule, channel=channel, msgtype=msgtype, robot_key=key,
            robot_key_env=key_env,
            mentioned_list=_strings(f"{where}.mentioned_list", g.get("mentioned_list", [])),
            mentioned_mobile_list=_strings(f"{where}.mentioned_mobile_list",
                                           g.get("mentioned_mobile_list", [])),
        ))
    return tuple(groups)


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

