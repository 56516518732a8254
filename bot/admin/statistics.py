"""Weekly statistics (宣传活动统计表): the tables of one ISO week, and XLSX/CSV downloads.

The numbers come from ``bot.reporting.weekly``, the same code as ``python -m bot report``.
"""
from __future__ import annotations

import io

from flask import current_app, g, render_template, request, send_file

from ..reporting.weekly import (SHEETS, XLSX_MIMETYPE, last_complete_week, report_filename,
                       weekly_report, write_csv, write_xlsx)
from .blueprint import bp, local_now
from .sign_in import db, login_required


def _week_report():
    """(week asked for, report or None, error message or None)."""
    settings = current_app.config["SETTINGS"]
    default = last_complete_week(local_now())
    week = request.args.get("week", "").strip() or default
    reporter = settings.report.reporter or (g.user["name"] if g.get("user") else "")
    try:
        return week, weekly_report(db(), settings, week, reporter=reporter), None
    except ValueError as exc:
        return week, None, str(exc)


def _page(week: str, data: dict | None, error: str | None):
    tz = current_app.config["SETTINGS"].scheduler.timezone
    return render_template("admin/report.html", week=week, report=data, error=error,
                           sheets=SHEETS, tz_label="北京时间" if tz == "Asia/Shanghai" else tz)


def _bad_week(week: str, error: str):
    return _page(week, None, error), 400


@bp.get("/report")
@login_required()
def report():
    week, data, error = _week_report()
    if error:
        return _bad_week(week, error)
    return _page(data["week"], data, None)


@bp.get("/report.xlsx")
@login_required()
def report_xlsx():
    week, data, error = _week_report()
    if error:
        return _bad_week(week, error)
    buffer = io.BytesIO()
    write_xlsx(data, buffer)
    buffer.seek(0)
    return send_file(buffer, mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name=report_filename(data["week"], "xlsx"))


@bp.get("/report.csv")
@login_required()
def report_csv():
    week, data, error = _week_report()
    if error:
        return _bad_week(week, error)
    text = io.StringIO(newline="")
    write_csv(data, text)
    # UTF-8 with a byte-order mark: Excel then reads the Chinese correctly.
    body = io.BytesIO(text.getvalue().encode("utf-8-sig"))
    return send_file(body, mimetype="text/csv; charset=utf-8", as_attachment=True,
                     download_name=report_filename(data["week"], "csv"))
