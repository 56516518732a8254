"""The monthly 通报 (every village ranked on a composite) and the weekly sheets per village
(《反电诈入户宣传登记表》 and 《反诈骗宣传活动统计表》), as data and as XLSX ready to file: a title,
the 单位 and the period on top, A4 landscape, the header row repeated on every printed page.

The composite score (0-100), with C coverage, A the APP registered rate, R the re-check rate
(see ``bot.campaign.figures``) and T the case trend:

    score = 30·min(C, 1) + 30·min(A / target, 1) + 15·R + 25·T

T averages four comparisons of the month's 发案 and 损失 with last month and with the same month
last year: lower scores 1, equal 0.5 (1 when both are zero), higher 0. A month the police have
not entered counts as zero. Ties go to the higher APP rate, then the village id.
双下降 (同比) is fewer cases *and* lower losses than the same month last year; 环比 likewise
against last month.
"""
from __future__ import annotations

from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from .figures import (Period, app_status_as_of, figures, month_period, shift_month,
                      week_period)
from .villages import cases_by_month

WEIGHTS = {"coverage": 30, "app": 30, "recheck": 15, "trend": 25}
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

TONGBAO_COLUMNS = (
    ("rank", "排名"), ("name", "村/社区"), ("score", "综合得分"), ("households", "户数"),
    ("coverage", "入户覆盖率"), ("app_rate", "APP注册率"), ("app_rate_prev", "上月注册率"),
    ("recheck_rate", "回头看率"), ("lost", "回头看发现卸载/关预警"), ("pledges", "本月签承诺书"),
    ("cases", "本月发案"), ("cases_prev", "上月发案"), ("cases_last_year", "去年同月发案"),
    ("losses", "本月损失(元)"), ("losses_prev", "上月损失(元)"),
    ("losses_last_year", "去年同月损失(元)"), ("double_drop", "同比双下降"),
    ("double_drop_mom", "环比双下降"), ("below_target", "未达标"), ("no_fraud", "无诈村"),
)
PERCENT = {"coverage", "app_rate", "app_rate_prev", "recheck_rate"}


def _compare(now: float, before: float) -> float:
    if now < before:
        return 1.0
    if now == before:
        return 1.0 if now == 0 else 0.5
    return 0.0


def trend_score(cases: int, cases_prev: int, cases_ly: int, losses: float, losses_prev: float,
                losses_ly: float) -> float:
    return (_compare(cases, cases_prev) + _compare(cases, cases_ly) +
            _compare(losses, losses_prev) + _compare(losses, losses_ly)) / 4


def composite(coverage: float, app_rate: float, recheck_rate: float, trend: float,
              target: float) -> float:
    """The documented score, rounded to one decimal."""
    w = WEIGHTS
    return round(w["coverage"] * min(coverage, 1.0) + w["app"] * min(app_rate / target, 1.0)
                 + w["recheck"] * min(recheck_rate, 1.0) + w["trend"] * trend, 1)


def monthly_tongbao(db, settings, month: str) -> dict:
    """The 通报 of a month: {'month', 'period', 'rows' (ranked), 'target', 'tips_note'}.
    ValueError for a bad month."""
    period = month_period(month)
    c = settings.campaign
    this = figures(db, settings, period)
    previous = _app_rates(db, month_period(shift_month(period.label, -1)).last)
    no_fraud_months = [shift_month(period.label, -i) for i in range(c.no_fraud_months)]
    months = sorted({*no_fraud_months, shift_month(period.label, -1),
                     shift_month(period.label, -12)})
    cases = cases_by_month(db, months)
    rows = []
    for v in this["villages"]:
        def get(m, i, vid=v["id"]):
            return cases.get((vid, m), (0, 0.0))[i]
        prev_m, ly_m = shift_month(period.label, -1), shift_month(period.label, -12)
        row = dict(v)
        row.update(
            cases=get(period.label, 0), cases_prev=get(prev_m, 0), cases_last_year=get(ly_m, 0),
            losses=get(period.label, 1), losses_prev=get(prev_m, 1),
            losses_last_year=get(ly_m, 1),
            app_rate_prev=round(previous.get(v["id"], 0) / v["households"], 4)
            if v["households"] else 0.0,
            cases_entered=(v["id"], period.label) in cases)
        row["double_drop"] = row["cases"] < row["cases_last_year"] and \
            row["losses"] < row["losses_last_year"]
        row["double_drop_mom"] = row["cases"] < row["cases_prev"] and \
            row["losses"] < row["losses_prev"]
        row["below_target"] = row["app_rate"] < c.app_target
        row["no_fraud"] = all(get(m, 0) == 0 for m in no_fraud_months) and \
            row["app_rate"] >= c.no_fraud_app_rate
        row["trend"] = trend_score(row["cases"], row["cases_prev"], row["cases_last_year"],
                                   row["losses"], row["losses_prev"], row["losses_last_year"])
        row["score"] = composite(row["coverage"], row["app_rate"], row["recheck_rate"],
                                 row["trend"], c.app_target)
        rows.append(row)
    rows.sort(key=lambda r: (-r["score"], -r["app_rate"], r["id"]))
    for i, row in enumerate(rows, 1):
        row["rank"] = i
    return {"month": period.label, "period": period, "rows": rows, "target": c.app_target,
            "unit": c.unit, "tips_note": this["tips_note"],
            "no_fraud_months": c.no_fraud_months}


def _app_rates(db, last: date) -> dict[str, int]:
    """{village_id: households with the APP registered} as of a day."""
    villages = dict(db.execute("SELECT id, village_id FROM grids").fetchall())
    out: dict[str, int] = {}
    for grid_id, (_, _, registered) in app_status_as_of(db, last).items():
        out[villages[grid_id]] = out.get(villages[grid_id], 0) + registered
    return out


# -- XLSX -----------------------------------------------------------------------------------------
_THIN = Side(style="thin", color="999999")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def _cell_value(key: str, value):
    if isinstance(value, bool):
        return "是" if value else ""
    return value


def _sheet_with_title(sheet, title: str, unit: str, period: Period, headers: list[str]) -> int:
    """Title, 单位 and period, header row; print setup A4 landscape, header row repeated.
    Returns the header row's number."""
    width = len(headers)
    sheet.append([title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    sheet["A1"].font = Font(bold=True, size=16)
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append([f"单位：{unit}    统计期间：{period.first.isoformat()} 至 {period.last.isoformat()}"])
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)
    sheet.append(headers)
    header_row = 3
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = _BOX
    sheet.print_title_rows = f"{header_row}:{header_row}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    sheet.freeze_panes = f"A{header_row + 1}"   # a string: sheet.cell() would create the row
    return header_row


def _finish_sheet(sheet, header_row: int, widths: list[int], percent_columns=()) -> None:
    for row in sheet.iter_rows(min_row=header_row + 1, max_row=sheet.max_row):
        for cell in row:
            cell.border = _BOX
            if cell.column in percent_columns and isinstance(cell.value, (int, float)):
                cell.number_format = "0.0%"
    for i, w in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(i)].width = w


def tongbao_workbook(data: dict) -> Workbook:
    book = Workbook()
    sheet = book.active
    sheet.title = "排名通报"
    p = data["period"]
    title = f"{p.first.year}年{p.first.month}月反电诈工作排名通报"
    header_row = _sheet_with_title(sheet, title, data["unit"], p,
                                   [label for _, label in TONGBAO_COLUMNS])
    for row in data["rows"]:
        sheet.append([_cell_value(k, row[k]) for k, _ in TONGBAO_COLUMNS])
    percent = {i for i, (k, _) in enumerate(TONGBAO_COLUMNS, 1) if k in PERCENT}
    _finish_sheet(sheet, header_row, [6, 14, 9, 8] + [11] * (len(TONGBAO_COLUMNS) - 4), percent)
    last = sheet.max_row
    sheet.append([])
    sheet.append([f"说明：综合得分 = 30×入户覆盖率 + 30×min(APP注册率÷目标{data['target']:.0%}, 1) "
                  "+ 15×回头看率 + 25×发案损失趋势（发案、损失分别与上月、去年同月相比，下降得1、"
                  "持平得0.5（均为0得1）、上升得0，取平均）。同比双下降：发案数和损失金额均低于去年同月。"
                  f"无诈村：连续{data['no_fraud_months']}个月无发案且APP注册率达标。"])
    sheet.merge_cells(start_row=last + 2, start_column=1, end_row=last + 2,
                      end_column=len(TONGBAO_COLUMNS))
    sheet.cell(row=last + 2, column=1).alignment = Alignment(wrap_text=True, vertical="top")
    sheet.row_dimensions[last + 2].height = 48
    sheet.print_area = f"A1:{get_column_letter(len(TONGBAO_COLUMNS))}{last + 2}"
    return book


# -- the weekly sheets per village ------------------------------------------------------------------
VISIT_SHEET = ("序号", "网格", "门牌号/地址", "户主姓氏", "联系电话", "走访日期", "在场人数",
               "重点人群", "发放资料", "反诈APP", "未安装原因", "承诺书", "回头看", "走访人", "备注")
STATS_SHEET = ("网格", "户数", "本周走访户", "年内已覆盖户", "入户覆盖率", "APP安装率", "APP注册率",
               "本周回头看户", "发现卸载/关预警", "本周签承诺书")


def weekly_sheets(db, settings, village_id: str, week: str) -> dict:
    """The two weekly sheets of a village: {'village', 'period', 'visits', 'stats'}.
    ValueError for a bad week or an unknown village."""
    from .visits import APP_STATUSES, KEY_GROUPS, MATERIALS

    period = week_period(week)
    village = db.execute("SELECT id, name FROM villages WHERE id = ?", [village_id]).fetchone()
    if village is None:
        raise ValueError(f"没有村'{village_id[:64]}'")
    names = lambda keys, table: "、".join(table[k] for k in (keys or "").split(",") if k in table)  # noqa: E731
    visits = []
    for i, r in enumerate(db.execute(
            "SELECT g.name, h.address, h.head_surname, h.phone_masked, v.visit_date, "
            "v.people_present, v.key_groups, v.materials, v.app_status, v.app_reason, v.pledge, "
            "v.is_recheck, v.recorded_by, v.notes FROM visits v JOIN households h "
            "ON h.id = v.household_id JOIN grids g ON g.id = v.grid_id WHERE v.village_id = ? "
            "AND v.visit_date BETWEEN ? AND ? ORDER BY v.visit_date, g.id, h.address",
            [village_id, period.first.isoformat(), period.last.isoformat()]).fetchall(), 1):
        visits.append([i, r[0], r[1], r[2] or "", r[3] or "", r[4], r[5],
                       names(r[6], KEY_GROUPS), names(r[7], MATERIALS), APP_STATUSES[r[8]],
                       r[9] or "", "已签" if r[10] else "", "是" if r[11] else "", r[12] or "",
                       r[13] or ""])
    data = figures(db, settings, period)
    stats = [[g["name"], g["households"], g["visited"], g["covered"], g["coverage"],
              g["installed_rate"], g["app_rate"], g["rechecked"], g["lost"], g["pledges"]]
             for g in data["grids"] if g["village_id"] == village_id]
    v = next(x for x in data["villages"] if x["id"] == village_id)
    stats.append(["合计", v["households"], v["visited"], v["covered"], v["coverage"],
                  v["installed_rate"], v["app_rate"], v["rechecked"], v["lost"], v["pledges"]])
    return {"village": {"id": village[0], "name": village[1]}, "period": period,
            "visits": visits, "stats": stats, "questions": v["questions"],
            "urgent": v["urgent"], "tips": v["tips"], "unit": settings.campaign.unit,
            "tips_note": data["tips_note"]}


def weekly_workbook(data: dict) -> Workbook:
    book = Workbook()
    p, name = data["period"], data["village"]["name"]
    sheet = book.active
    sheet.title = "入户宣传登记表"
    header_row = _sheet_with_title(sheet, f"{name}反电诈入户宣传登记表（{p.label}）", data["unit"],
                                   p, list(VISIT_SHEET))
    for row in data["visits"]:
        sheet.append(row)
    _finish_sheet(sheet, header_row, [5, 10, 16, 8, 13, 11, 8, 16, 16, 14, 12, 7, 7, 9, 20])
    sheet = book.create_sheet("宣传活动统计表")
    header_row = _sheet_with_title(sheet, f"{name}反诈骗宣传活动统计表（{p.label}）", data["unit"],
                                   p, list(STATS_SHEET))
    for row in data["stats"]:
        sheet.append(row)
    _finish_sheet(sheet, header_row, [12] + [11] * (len(STATS_SHEET) - 1), {5, 6, 7})
    sheet.append([])
    sheet.append([f"本周群众提问 {data['questions']} 条，其中紧急 {data['urgent']} 条；"
                  f"推送到本村群的提示 {data['tips']} 条（{data['tips_note']}）。"])
    return book


def tongbao_filename(month: str) -> str:
    return f"反电诈工作排名通报-{month}.xlsx"


def weekly_filename(village_id: str, week: str) -> str:
    return f"入户宣传周报-{village_id}-{week}.xlsx"

