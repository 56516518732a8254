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
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from ..content.model import load_taxonomy
from ..pushing.receipts import delivery_summary
from ..storage.questions import resident_sql

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
PUSH_STATUSES = ("sent", "failed", "missed")
NO_AREA = "（未填写）"
NO_CATEGORY = "（未分类）"
# How far a pushed tip is known to have got (bot.pushing.receipts): into a group a robot sits
# in; confirmed by WeCom as sent to a customer group; forwarded by a grid worker (their tap).
REACH = (("robot_sent", "机器人已发"), ("customer_group_confirmed", "客户群确认送达"),
         ("relayed", "网格员已转发"))
REACH_HEADERS = tuple(name for _, name in REACH)

# Sheet name -> header row; the same tables, in this order, in the page, XLSX and CSV. The
# XLSX puts the clerk's one-page form (CLERK_SHEET) in front of them.
SHEETS = {
    "汇总": ("项目", "数值"),
    "按群": ("群编号", "群名称", "村/片区", "推送成功", "推送失败", "错过", *REACH_HEADERS),
    "按村": ("村/片区", "推送成功", "推送失败", "错过", *REACH_HEADERS),
    "提问类别": ("类别编号", "类别", "提问数", "其中紧急"),
    "推送明细": ("推送时间", "群名称", "村/片区", "类型", "内容", "状态"),
}
SUMMARY_ITEMS = ("周次", "统计时间", "推送成功", "推送失败", "错过", *REACH_HEADERS, "群众提问",
                 "紧急求助", "新增案例")
CLERK_SHEET = "统计表"
TITLE = "反诈骗宣传活动统计表"
STATUS_NAMES = {"sent": "成功", "failed": "失败", "missed": "错过"}
KIND_NAMES = {"tip": "每周提示", "alert": "本周预警", "manual": "手动推送"}
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


FIRST_YEAR, LAST_YEAR = 2000, 2999


# -- weeks ----------------------------------------------------------------------------------------
def week_bounds(week: str, tz) -> tuple[datetime, datetime]:
    """'2026-W47' -> (Monday 00:00, next Monday 00:00), aware in ``tz``; ValueError otherwise."""
    m = _WEEK_RE.match((week or "").strip())
    if not m:
        raise ValueError(f"周次格式不对：'{(week or '')[:40]}'，应当像 2026-W47（年-W周）")
    year, number = int(m.group(1)), int(m.group(2))
    if not FIRST_YEAR <= year <= LAST_YEAR:      # 9999-W52 would run past the calendar
        raise ValueError(f"没有这一周：'{week}'（只能查 {FIRST_YEAR}-{LAST_YEAR} 年）")
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
    """{category: (questions, urgent ones)} for residents' questions asked in the window
    (WeChat and the mini-program; not the try-it page, anonymous API calls or previews)."""
    rows = db.execute(
        f"SELECT category, COUNT(*), COALESCE(SUM(urgent = 1), 0) FROM questions "
        f"WHERE {window_sql('asked_at')} AND {resident_sql()} GROUP BY category",
        window_params(start, end)).fetchall()
    return {(r[0] or ""): (r[1], r[2]) for r in rows}


def push_details(db, start: datetime, end: datetime) -> list[tuple]:
    """(slot, group_id, message_key, item_kind, item title, status) of the week's pushes."""
    return db.execute(
        f"SELECT p.slot, p.group_id, p.message_key, p.item_kind, "
        f"COALESCE(t.title, c.title, p.item_id, ''), p.status FROM pushes p "
        f"LEFT JOIN tips t ON p.item_kind = 'tip' AND t.id = p.item_id "
        f"LEFT JOIN cases c ON p.item_kind = 'case' AND c.id = p.item_id "
        f"WHERE {window_sql('p.slot')} AND p.status IN "
        f"({', '.join('?' * len(PUSH_STATUSES))}) ORDER BY julianday(p.slot), p.group_id, p.id",
        [*window_params(start, end), *PUSH_STATUSES]).fetchall()


def date_range(start: datetime, end: datetime) -> str:
    """'2026年11月16日至2026年11月22日': the week as a clerk writes it (end is exclusive)."""
    last = end - timedelta(days=1)
    return f"{start.year}年{start.month}月{start.day}日至{last.year}年{last.month}月{last.day}日"


def new_case_count(db, start: datetime, end: datetime) -> int:
    """Cases added in the week: by admins, or as new content/ files after the first load (the
    bank loaded when the database was created is not 'new')."""
    return db.execute(
        f"SELECT COUNT(*) FROM cases WHERE {window_sql('created_at')} AND (origin = 'admin' "
        "OR created_at > (SELECT MIN(created_at) FROM cases))",
        window_params(start, end)).fetchone()[0]


# -- the report -----------------------------------------------------------------------------------
def weekly_report(db, settings, week: str, reporter: str = "",
                  today: date | None = None) -> dict:
    """The 宣传活动统计表 of one week: {'week', 'range', 'start', 'end', 'unit', 'reporter',
    'filled_on', 'groups', 'sheets': {name: rows}}.

    Each sheet's rows are lists matching ``SHEETS[name]``; ``groups`` feeds the clerk's form.
    ``reporter`` (填报人) defaults to ``report.reporter``. ValueError for a bad week."""
    tz = ZoneInfo(settings.scheduler.timezone)
    start, end = week_bounds(week, tz)
    week = week_of(start)
    pushes = push_counts(db, start, end)
    reach = delivery_summary(db, start, end)
    groups = [(g.id, g.name, g.area or NO_AREA) for g in settings.groups]
    known = {g[0] for g in groups}
    groups += [(gid, gid, NO_AREA) for gid in sorted(pushes) if gid not in known]
    names = {gid: (name, area) for gid, name, area in groups}
    details, sent_titles = [], {}
    for slot, gid, key, kind, title, status in push_details(db, start, end):
        name, area = names.get(gid, (gid, NO_AREA))
        label = KIND_NAMES.get(key.split(":", 1)[0], key)
        when = datetime.fromisoformat(slot).astimezone(tz).strftime("%m-%d %H:%M")
        details.append([when, name, area, label, title, STATUS_NAMES.get(status, status)])
        if status == "sent":
            shown = f"【预警】{title}" if key.startswith("alert:") else title
            sent_titles.setdefault(gid, []).append(shown)
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
    summary = [week, date_range(start, end), *totals, sum(n for n, _ in questions.values()),
               sum(u for _, u in questions.values()), new_case_count(db, start, end)]
    today = today or datetime.now(tz).date()
    return {
        "week": week, "range": date_range(start, end),
        "start": start.isoformat(), "end": end.isoformat(),
        "unit": settings.report.unit, "reporter": reporter or settings.report.reporter,
        "filled_on": f"{today.year}年{today.month}月{today.day}日",
        "groups": [{"name": r[1], "area": r[2], "sent": r[3], "failed": r[4], "missed": r[5],
                    "titles": sent_titles.get(r[0], [])} for r in by_group],
        "sheets": {
            "汇总": [list(pair) for pair in zip(SUMMARY_ITEMS, summary)],
            "按群": by_group,
            "按村": [[area, *counts] for area, counts in by_area.items()],
            "提问类别": categories,
            "推送明细": details,
        },
    }


def summary_value(report: dict, item: str):
    """One number of the 汇总 sheet, e.g. summary_value(r, '推送成功')."""
    return dict(map(tuple, report["sheets"]["汇总"]))[item]


def report_filename(week: str, suffix: str) -> str:
    return f"宣传活动统计表-{week}.{suffix}"


# -- files ----------------------------------------------------------------------------------------
def write_xlsx(report: dict, path_or_file) -> None:
    """The clerk's form (统计表, ready to print and file) first, then one sheet per table with
    its headers in bold on the first row (frozen)."""
    book = Workbook()
    book.remove(book.active)
    write_clerk_sheet(book.create_sheet(CLERK_SHEET), report)
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


CLERK_HEADERS = ("序号", "群名称", "村/片区", "推送成功（条）", "推送失败（条）", "错过（次）",
                 "推送内容（成功送达的提示和预警）")
CLERK_WIDTHS = (6, 22, 14, 12, 12, 10, 70)
CLERK_HEADER_ROW = 5


def write_clerk_sheet(sheet, report: dict) -> None:
    """《反诈骗宣传活动统计表》 as a clerk files it: title, 填报单位, 统计时间, 填报人, a row per
    group with what it was sent, totals, the residents' questions; A4 landscape, one page wide,
    the header row repeated on every printed page."""
    thin = Side(style="thin", color="000000")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    wrap = Alignment(wrap_text=True, vertical="center")
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    last_col = get_column_letter(len(CLERK_HEADERS))
    for i, width in enumerate(CLERK_WIDTHS, 1):
        sheet.column_dimensions[get_column_letter(i)].width = width

    def line(row: int, first: str, second: str) -> None:
        sheet.cell(row, 1, first).alignment = Alignment(vertical="center")
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=3)
        sheet.cell(row, 4, second).alignment = Alignment(vertical="center")
        sheet.merge_cells(start_row=row, start_column=4, end_row=row, end_column=7)

    sheet["A1"] = TITLE
    sheet["A1"].font = Font(bold=True, size=18)
    sheet["A1"].alignment = center
    sheet.merge_cells(f"A1:{last_col}1")
    sheet.row_dimensions[1].height = 36
    line(2, f"填报单位：{report.get('unit') or '＿＿＿＿＿＿＿＿'}",
         f"统计时间：{report['range']}（第 {int(report['week'][-2:])} 周）")
    line(3, f"填报人：{report.get('reporter') or '＿＿＿＿＿＿'}",
         f"填报日期：{report.get('filled_on', '')}")
    row = CLERK_HEADER_ROW
    for col, header in enumerate(CLERK_HEADERS, 1):
        cell = sheet.cell(row, col, header)
        cell.font, cell.alignment, cell.border = Font(bold=True), center, box
        cell.fill = PatternFill("solid", fgColor="DDDDDD")
    for n, g in enumerate(report["groups"], 1):
        row += 1
        titles = "；".join(g["titles"]) or "（本周没有成功推送）"
        values = (n, g["name"], g["area"], g["sent"], g["failed"], g["missed"], titles)
        for col, value in enumerate(values, 1):
            cell = sheet.cell(row, col, value)
            cell.border, cell.alignment = box, center if col != 7 and col != 2 else wrap
    row += 1
    totals = ("合计", f"{len(report['groups'])} 个群", "",
              *(sum(g[k] for g in report["groups"]) for k in ("sent", "failed", "missed")),
              f"共推送 {sum(len(g['titles']) for g in report['groups'])} 条")
    for col, value in enumerate(totals, 1):
        cell = sheet.cell(row, col, value)
        cell.font, cell.border, cell.alignment = Font(bold=True), box, center if col != 7 else wrap
    summary = dict(map(tuple, report["sheets"]["汇总"]))
    asked = [f"{r[1]} {r[2]}" for r in report["sheets"]["提问类别"] if r[2]]
    notes = [
        f"群众咨询：公众号和小程序共收到群众提问 {summary['群众提问']} 条，其中紧急求助"
        f"（已被骗或正在被骗）{summary['紧急求助']} 条；本周新增防骗案例 {summary['新增案例']} 个。",
        "提问按类别：" + ("、".join(asked) if asked else "无") + "。",
        "说明：推送按计划推送时间统计；“错过”指调度程序停机超过宽限期而没有发出的推送。"
        "明细见后面的“推送明细”等工作表。",
        "审核人：＿＿＿＿＿＿　　　　（单位盖章）",
    ]
    for text in notes:
        row += 1
        sheet.cell(row, 1, text).alignment = wrap
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=7)
        sheet.row_dimensions[row].height = 30
    setup = sheet.page_setup
    setup.orientation, setup.paperSize = "landscape", sheet.PAPERSIZE_A4
    setup.fitToWidth, setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"{CLERK_HEADER_ROW}:{CLERK_HEADER_ROW}"
    sheet.print_area = f"A1:{last_col}{row}"
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"


def write_csv(report: dict, file) -> None:
    """All tables in one CSV: per table a header row ('section', headers...) then its rows,
    each starting with the table's name. ``file`` is a text stream opened with newline=''
    (encoding 'utf-8-sig' lets Excel read the Chinese)."""
    out = csv.writer(file)
    for name, headers in SHEETS.items():
        out.writerow(["section", *headers])
        for row in report["sheets"][name]:
            out.writerow([name, *row])
