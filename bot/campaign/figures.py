"""The campaign's figures per village and grid for a period (a week or a month): coverage, APP
rates against the target, 回头看, pledges, residents' questions and tips pushed to the village's
groups. Pure queries over the database, shared by the console, the 通报 and the CLI.

Periods are inclusive ranges of local dates ('2026-11-01'..'2026-11-30'): a visit has a date,
not a time. Rates are per household:
- coverage: households visited at least once this calendar year up to the period's end / households;
- APP installed / registered rate: households whose latest visit up to the period's end shows the
  APP installed (or registered) / households;
- re-check rate: households re-checked (visited again) this year / households with the APP
  installed (their latest status), at most 1.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from ..reporting.weekly import week_bounds, window_params, window_sql
from ..pushing.receipts import delivery_summary

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
INSTALLED = ("installed", "registered", "warnings_on")
REGISTERED = ("registered", "warnings_on")
TIPS_NOTE = "到达本村群的提示：群机器人已发、客户群确认送达、网格员已转发的条数"


@dataclass(frozen=True)
class Period:
    """An inclusive range of local dates with its label ('2026-11' or '2026-W47')."""
    label: str
    first: date
    last: date


def month_period(month: str) -> Period:
    m = _MONTH_RE.match((month or "").strip())
    if not m:
        raise ValueError(f"月份格式不对：'{(month or '')[:20]}'，应当像 2026-11")
    year, number = int(m.group(1)), int(m.group(2))
    first = date(year, number, 1)
    nxt = date(year + number // 12, number % 12 + 1, 1)
    return Period(f"{year}-{number:02d}", first, nxt - timedelta(days=1))


def week_period(week: str) -> Period:
    start, end = week_bounds(week, timezone.utc)
    label = f"{start.isocalendar()[0]}-W{start.isocalendar()[1]:02d}"
    return Period(label, start.date(), end.date() - timedelta(days=1))


def shift_month(month: str, months: int) -> str:
    p = month_period(month)
    index = p.first.year * 12 + p.first.month - 1 + months
    return f"{index // 12}-{index % 12 + 1:02d}"


def current_month(now: datetime) -> str:
    return f"{now.year}-{now.month:02d}"


def today_in(settings, now: datetime | None = None) -> date:
    """Today's date in the scheduler's time zone (visits are dated in local days)."""
    return (now or datetime.now(ZoneInfo(settings.scheduler.timezone))).date()


# -- the counts --------------------------------------------------------------------------------------
def app_status_as_of(db, last: date) -> dict[str, tuple[int, int, int]]:
    """{grid_id: (households with a visit, installed, registered)} from each household's latest
    visit up to ``last``: the visit dated on or before it whose next visit is after it."""
    day = last.isoformat()
    rows = db.execute(
        "SELECT grid_id, COUNT(*), "
        f"SUM(app_status IN ({', '.join('?' * len(INSTALLED))})), "
        f"SUM(app_status IN ({', '.join('?' * len(REGISTERED))})) "
        "FROM visits INDEXED BY visits_status_as_of "
        "WHERE visit_date <= ? AND (next_visit_date IS NULL OR next_visit_date > ?) "
        "GROUP BY grid_id", [*INSTALLED, *REGISTERED, day, day]).fetchall()
    return {r[0]: (r[1], r[2] or 0, r[3] or 0) for r in rows}


def visit_counts(db, first: date, last: date) -> dict[str, dict[str, int]]:
    """{grid_id: {visits, visited, rechecked, lost, pledges}} for visits dated in the range.
    A household's first visit in the range is the one whose previous visit is before it."""
    start = first.isoformat()
    rows = db.execute(
        "SELECT grid_id, COUNT(*), SUM(prev_visit_date IS NULL OR prev_visit_date < ?), "
        "COUNT(DISTINCT CASE WHEN is_recheck THEN household_id END), SUM(recheck_lost), "
        "COUNT(DISTINCT CASE WHEN pledge THEN household_id END) "
        "FROM visits INDEXED BY visits_in_period WHERE visit_date BETWEEN ? AND ? "
        "GROUP BY grid_id", [start, start, last.isoformat()]).fetchall()
    keys = ("visits", "visited", "rechecked", "lost", "pledges")
    return {r[0]: dict(zip(keys, (v or 0 for v in r[1:]))) for r in rows}


def questions_by_village(db, first: date, last: date, tz) -> dict[str, tuple[int, int]]:
    """{village_id: (questions, urgent)} asked in the range by followers bound to a village."""
    start = datetime(first.year, first.month, first.day, tzinfo=tz)
    end = datetime(last.year, last.month, last.day, tzinfo=tz) + timedelta(days=1)
    rows = db.execute(
        "SELECT f.village_id, COUNT(*), COALESCE(SUM(q.urgent = 1), 0) FROM questions q "
        f"JOIN village_followers f ON f.user_hash = q.user_hash WHERE {window_sql('q.asked_at')} "
        "AND q.user_hash != '' GROUP BY f.village_id", window_params(start, end)).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def tips_by_village(db, settings, first: date, last: date, tz) -> dict[str, int]:
    """{village_id: tips that reached the village's groups}: taken by a group robot (or the
    local outbox), confirmed by WeCom for a customer group, or relayed by the grid worker
    (``bot.pushing.receipts``). A task the owner never sent or an expired relay link counts
    nothing: the figure is what residents could have seen."""
    groups = {}
    for g in settings.groups:
        if g.village:
            groups.setdefault(g.village, []).append(g.id)
    if not groups:
        return {}
    start = datetime(first.year, first.month, first.day, tzinfo=tz)
    end = datetime(last.year, last.month, last.day, tzinfo=tz) + timedelta(days=1)
    summary = delivery_summary(db, start, end)
    reached = {gid: sum(counts[k] for k in REACHED) for gid, counts in summary.items()}
    return {v: sum(reached.get(g, 0) for g in ids) for v, ids in groups.items()}


REACHED = ("robot_sent", "outbox", "customer_group_confirmed", "relayed")


# -- figures ---------------------------------------------------------------------------------------
def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _finish(row: dict) -> dict:
    """Rates from the counts (in place), for a grid or a village."""
    h = row["households"]
    row["coverage"] = min(1.0, _rate(row["covered"], h))
    row["installed_rate"] = _rate(row["installed"], h)
    row["app_rate"] = _rate(row["registered"], h)
    row["recheck_rate"] = min(1.0, _rate(row["rechecked_ytd"], row["installed"]))
    return row


def figures(db, settings, period: Period) -> dict:
    """{'villages': [row], 'grids': [row]} for a period; each row has the counts and rates
    documented above, plus questions/urgent/tips for villages."""
    tz = ZoneInfo(settings.scheduler.timezone)
    year_start = date(period.last.year, 1, 1)
    in_period = visit_counts(db, period.first, period.last)
    this_year = visit_counts(db, year_start, period.last)
    status = app_status_as_of(db, period.last)
    grid_rows = []
    for gid, vid, name, households, population, vname in db.execute(
            "SELECT g.id, g.village_id, g.name, g.households, g.population, v.name FROM grids g "
            "JOIN villages v ON v.id = g.village_id ORDER BY g.village_id, g.id").fetchall():
        p = in_period.get(gid, {})
        y = this_year.get(gid, {})
        s = status.get(gid, (0, 0, 0))
        grid_rows.append(_finish({
            "id": gid, "village_id": vid, "name": name, "village_name": vname,
            "households": households or 0, "population": population or 0,
            "visits": p.get("visits", 0), "visited": p.get("visited", 0),
            "rechecked": p.get("rechecked", 0), "lost": p.get("lost", 0),
            "pledges": p.get("pledges", 0), "covered": y.get("visited", 0),
            "rechecked_ytd": y.get("rechecked", 0), "installed": s[1], "registered": s[2]}))
    questions = questions_by_village(db, period.first, period.last, tz)
    tips = tips_by_village(db, settings, period.first, period.last, tz)
    villages = {}
    for vid, name, town in db.execute("SELECT id, name, town FROM villages ORDER BY id"):
        q = questions.get(vid, (0, 0))
        villages[vid] = {"id": vid, "name": name, "town": town or "", "questions": q[0],
                         "urgent": q[1], "tips": tips.get(vid, 0),
                         **dict.fromkeys(SUMMED, 0)}
    for g in grid_rows:
        v = villages[g["village_id"]]
        for key in SUMMED:
            v[key] += g[key]
    return {"period": period, "grids": grid_rows,
            "villages": [_finish(v) for v in villages.values()], "tips_note": TIPS_NOTE}


SUMMED = ("households", "population", "visits", "visited", "rechecked", "lost", "pledges",
          "covered", "rechecked_ytd", "installed", "registered")


def app_rate_trend(db, village_ids, months: list[str]) -> dict[str, list[float]]:
    """{village_id: [APP registered rate at the end of each month]} (oldest first)."""
    households = dict(db.execute("SELECT village_id, SUM(households) FROM grids "
                                 "GROUP BY village_id").fetchall())
    grid_village = dict(db.execute("SELECT id, village_id FROM grids").fetchall())
    trend = {v: [] for v in village_ids}
    for month in months:
        registered: dict[str, int] = {}
        for gid, (_, _, reg) in app_status_as_of(db, month_period(month).last).items():
            vid = grid_village.get(gid)
            registered[vid] = registered.get(vid, 0) + reg
        for v in trend:
            trend[v].append(_rate(registered.get(v, 0), households.get(v) or 0))
    return trend
