"""举报 leads for staff: the list with status changes, the same number or link grouped and
counted by distinct residents, the XLSX export for the police (audited), and the watchlist of
known scam and official links and numbers."""
from __future__ import annotations

import io
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from openpyxl import Workbook

from ..loop import watchlist
from ..loop.indicators import KINDS
from ..loop.leads import STATUSES, grouped_items, list_leads, set_status
from ..reporting.weekly import XLSX_MIMETYPE
from ..storage.audit import audit
from ..storage.db import write_transaction
from .blueprint import bp, local_now
from .inbox import local_time
from .sign_in import actor, db, login_required


def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["SETTINGS"].scheduler.timezone)


@bp.get("/leads")
@login_required()
def leads():
    status = request.args.get("status", "")
    rows = list_leads(db(), status)
    for r in rows:
        r["time"] = local_time(r["created_at"], _tz())
    return render_template("admin/leads.html", rows=rows, status=status, statuses=STATUSES,
                           groups=grouped_items(db(), 30), kinds=KINDS)


@bp.post("/leads/<int:lead_id>/status")
@login_required()
def lead_status(lead_id: int):
    status = request.form.get("status", "")
    if status not in STATUSES:
        flash("状态不对。", "error")
        return redirect(url_for("admin.leads")), 303
    if not set_status(db(), lead_id, status, request.form.get("note", ""), actor(),
                      datetime.now(timezone.utc)):
        abort(404)
    flash(f"线索 {lead_id} 已改为“{STATUSES[status]}”。", "ok")
    return redirect(url_for("admin.leads", status=request.form.get("back", "")))


@bp.get("/leads.xlsx")
@login_required()
def leads_xlsx():
    status = request.args.get("status", "")
    rows = list_leads(db(), status)
    book = Workbook()
    sheet = book.active
    sheet.title = "群众举报线索"
    sheet.append(["编号", "时间", "发生了什么", "号码/链接/账号", "发生时间", "截图张数", "截图文字",
                  "状态", "处理说明", "是否填完"])
    for r in rows:
        items = "\n".join(f"{KINDS[i['kind']]} {i['value']}（{i['reporters']}人举报）"
                          for i in r["items"])
        sheet.append([r["id"], local_time(r["created_at"], _tz()), r["what"], items,
                      r["happened"], r["screenshots"], r["screenshot_text"],
                      STATUSES.get(r["status"], r["status"]), r["status_note"] or "",
                      "是" if r["complete"] else "否（中途未答）"])
    groups = book.create_sheet("同一号码链接汇总")
    groups.append(["类型", "号码/链接/账号", "举报人数", "线索条数", "最近一次"])
    for g in grouped_items(db(), 1000):
        groups.append([KINDS[g["kind"]], g["value"], g["reporters"], g["leads"],
                       local_time(g["last_at"], _tz())])
    with write_transaction(db()):
        audit(db(), actor(), "leads.export", "leads", status or "all", None,
              {"rows": len(rows)})
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    return send_file(buffer, mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name=f"leads-{local_now():%Y%m%d-%H%M}.xlsx")


@bp.route("/watchlist", methods=["GET", "POST"])
@login_required()
def watchlist_page():
    if request.method == "POST":
        problem = watchlist.add_entry(db(), request.form.get("kind", ""),
                                      request.form.get("value", ""),
                                      request.form.get("verdict", ""),
                                      request.form.get("note", ""), actor())
        if problem:
            flash(problem, "error")
            return render_template("admin/watchlist.html", rows=watchlist.entries(db()),
                                   kinds=KINDS, verdicts=watchlist.VERDICTS), 400
        flash("已保存。", "ok")
        return redirect(url_for("admin.watchlist_page"))
    return render_template("admin/watchlist.html", rows=watchlist.entries(db()), kinds=KINDS,
                           verdicts=watchlist.VERDICTS)


@bp.post("/watchlist/<int:entry_id>/remove")
@login_required()
def watchlist_remove(entry_id: int):
    if not watchlist.remove_entry(db(), entry_id, actor()):
        abort(404)
    flash("已从名单中移除。", "ok")
    return redirect(url_for("admin.watchlist_page"))
