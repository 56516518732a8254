"""Weekly statistics (宣传活动统计表): pushes, questions and new cases in one ISO week.

Pure functions over the database, shared by the admin report page, the dashboard charts and
``python -m bot report``; no Flask here. A week is an ISO week such as ``2026-W47``: Monday
00:00 to the next Monday 00:00 in the scheduler's time zone (Asia/Shanghai).

Timestamps are stored as ISO strings with an offset (questions and cases in UTC, push slots in
local time), so windows are compared with SQLite's ``julianday`` (which honours the offset);
a string range one day wider on each side lets the indexes do the first cut.
"""
from __future__ import annotations

import csv
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from ..content.model import load_taxonomy
from ..pushing.receipts import delivery_summary

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
PUSH_STATUSES = ("sent", "failed", "missed")
NO_AREA = "（未填写）"
NO_CATEGORY = "（未分类）"
# How far a pushed tip is known to have got (bot.pushing.receipts): into a group a robot sits
# in; confirmed by WeCom as sent to a customer group; forwarded by a grid worker (their tap).
REACH = (("robot_sent", "机器人已发"), ("customer_group_confirmed", "客户群确认送达"),
         ("relayed", "网格员已转发"))
REACH_HEADERS = tuple(name for _, name in REACH)

# Sheet name -> header row; the same tables, in this order, in the page, XLSX and CSV.
SHEETS = {
    "汇总": ("项目", "数值"),
    "按群": ("群编号", "群名称", "村/片区", "推送成功", "推送失败", "错过", *REACH_HEADERS),
    "按村": ("村/片区", "推送成功", "推送失败", "错过", *REACH_HEADERS),
    "提问类别": ("类别编号", "类别", "提问数", "其中紧急"),
}
SUMMARY_ITEMS = ("周次", "推送成功", "推送失败", "错过", *REACH_HEADERS, "群众提问", "紧急求助",
                 "新增案例")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# -- weeks ----------------------------------------------------------------------------------------
def week_bounds(week: str, tz) -> tuple[datetime, datetime]:
    """'2026-W47' -> (Monday 00:00, next Monday 00:00), aware in ``tz``; ValueError otherwise."""
    m = _WEEK_RE.match((week or "").strip())
    if not m:
        raise ValueError(f"周次格式不对：'{(week or '')[:40]}'，应当像 2026-W47（年-W周）")
    year, number = int(m.group(1)), int(m.group(2))
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"没有这一周：'{week}'（{year} 年没有第 {number} 周）") from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=tz)
    end_day = monday + timedelta(days=7)
    return start, datetime(end_day.year, end_day.month, end_day.day, tzinfo=tz)


def week_of(moment: datetime) -> str:
    """The ISO week containing an aware datetime, in its own time zone: '2026-W47'."""
    year, number, _ = moment.isocalendar()
    return f"{year}-W{number:02d}"


def last_complete_week(now: datetime) -> str:
    """The week before the one ``now`` is in (the default for the report)."""
    return week_of(now - timedelta(days=7))


def recent_weeks(now: datetime, count: int) -> list[str]:
    """The ``count`` weeks ending with the current one, oldest first."""
    return [week_of(now - timedelta(days=7 * i)) for i in range(count - 1, -1, -1)]


def window_sql(column: str) -> str:
    """A WHERE fragment selecting ``column`` in [start, end); takes window_params()."""
    return (f"{column} >= ? AND {column} < ? AND "
            f"julianday({column}) >= julianday(?) AND julianday({column}) < julianday(?)")


def window_params(start: datetime, end: datetime) -> list[str]:
    return [(start - timedelta(days=1)).date().isoformat(),
            (end + timedelta(days=2)).date().isoformat(), start.isoformat(), end.isoformat()]


# -- counting -------------------------------------------------------------------------------------
def push_counts(db, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """{group_id: {sent, failed, missed}} for pushes whose slot is in the window."""
    rows = db.execute(
        f"SELECT group_id, status, COUNT(*) FROM pushes WHERE {window_sql('slot')} "
        f"AND status IN ({', '.join('?' * len(PUSH_STATUSES))}) GROUP BY group_id, status",
        [*window_params(start, end), *PUSH_STATUSES]).fetchall()
    out: dict[str, dict[str, int]] = {}
    for group_id, status, n in rows:
        out.setdefault(group_id, dict.fromkeys(PUSH_STATUSES, 0))[status] = n
    return out


def question_counts(db, start: datetime, end: datetime) -> dict[str, tuple[int, int]]:
    """{category: (questions, urgent ones)} for questions asked in the window (all channels)."""
    rows = db.execute(
        f"SELECT category, COUNT(*), COALESCE(SUM(urgent = 1), 0) FROM questions "
        f"WHERE {window_sql('asked_at')} GROUP BY category",
        window_params(start, end)).fetchall()
    return {(r[0] or ""): (r[1], r[2]) for r in rows}


def new_case_count(db, start: datetime, end: datetime) -> int:
    """Cases added in the week: by admins, or as new content/ files after the first load (the
    bank loaded when the database was created is not 'new')."""
    return db.execute(
        f"SELECT COUNT(*) FROM cases WHERE {window_sql('created_at')} AND (origin = 'admin' "
        "OR created_at > (SELECT MIN(created_at) FROM cases))",
        window_params(start, end)).fetchone()[0]


# -- the report -----------------------------------------------------------------------------------
def weekly_report(db, settings, week: str) -> dict:
    """The 宣传活动统计表 of one week: {'week', 'start', 'end', 'sheets': {name: rows}}.

    Each sheet's rows are lists matching ``SHEETS[name]``. ValueError for a bad week."""
    start, end = week_bounds(week, ZoneInfo(settings.scheduler.timezone))
    week = week_of(start)
    pushes = push_counts(db, start, end)
    reach = delivery_summary(db, start, end)
    groups = [(g.id, g.name, g.area or NO_AREA) for g in settings.groups]
    known = {g[0] for g in groups}
    groups += [(gid, gid, NO_AREA) for gid in sorted(pushes) if gid not in known]
    by_group, by_area = [], {}
    for gid, name, area in groups:
        counts = pushes.get(gid, dict.fromkeys(PUSH_STATUSES, 0))
        row = [*(counts[s] for s in PUSH_STATUSES),
               *(reach.get(gid, {}).get(kind, 0) for kind, _ in REACH)]
        by_group.append([gid, name, area, *row])
        totals = by_area.setdefault(area, [0] * len(row))
        for i, n in enumerate(row):
            totals[i] += n
    questions = question_counts(db, start, end)
    taxonomy = load_taxonomy(settings.content.dir)
    categories = [[c, name, *questions.get(c, (0, 0))] for c, name in taxonomy.items()]
    categories += [[c, NO_CATEGORY if not c else c, n, u]
                   for c, (n, u) in sorted(questions.items()) if c not in taxonomy]
    totals = [sum(r[3 + i] for r in by_group) for i in range(len(PUSH_STATUSES) + len(REACH))]
    summary = [week, *totals, sum(n for n, _ in questions.values()),
               sum(u for _, u in questions.values()), new_case_count(db, start, end)]
    return {
        "week": week, "start": start.isoformat(), "end": end.isoformat(),
        "sheets": {
            "汇总": [list(pair) for pair in zip(SUMMARY_ITEMS, summary)],
            "按群": by_group,
            "按村": [[area, *counts] for area, counts in by_area.items()],
            "提问类别": categories,
        },
    }


def summary_value(report: dict, item: str):
    """One number of the 汇总 sheet, e.g. summary_value(r, '推送成功')."""
    return dict(map(tuple, report["sheets"]["汇总"]))[item]


def report_filename(week: str, suffix: str) -> str:
    return f"宣传活动统计表-{week}.{suffix}"


# -- files ----------------------------------------------------------------------------------------
def write_xlsx(report: dict, path_or_file) -> None:
    """One sheet per table, headers in bold on the first row (frozen)."""
    book = Workbook()
    book.remove(book.active)
    for name, headers in SHEETS.items():
        sheet = book.create_sheet(name)
        sheet.append(list(headers))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in report["sheets"][name]:
            sheet.append(list(row))
        sheet.freeze_panes = "A2"
        for i, header in enumerate(headers):
            longest = max([len(str(header))] + [len(str(r[i])) for r in report["sheets"][name]])
            sheet.column_dimensions[get_column_letter(i + 1)].width = min(40, 4 + 2 * longest)
    if isinstance(path_or_file, (str, Path)):
        Path(path_or_file).parent.mkdir(parents=True, exist_ok=True)
        path_or_file = str(path_or_file)
    book.save(path_or_file)


def write_csv(report: dict, file) -> None:
    """All tables in one CSV: per table a header row ('section', headers...) then its rows,
    each starting with the table's name. ``file`` is a text stream opened with newline=''
    (encoding 'utf-8-sig' lets Excel read the Chinese)."""
    out = csv.writer(file)
    for name, headers in SHEETS.items():
        out.writerow(["section", *headers])
        for row in report["sheets"][name]:
            out.writerow([name, *row])
