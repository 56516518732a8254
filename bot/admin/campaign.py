"""Town staff's campaign pages: the ranking of villages against the APP target (phone-readable,
no map), villages and grids (CSV import, edits, grid workers), the monthly 通报 (printable, with
a pygal chart, and XLSX), the weekly sheets per village, and the police's 发案/损失 form and CSV
import. Every download of household data or figures is audited.
"""
from __future__ import annotations

import io

from flask import abort, flash, redirect, render_template, request, send_file, url_for

from ..campaign.figures import (app_rate_trend, current_month, figures, month_period,
                                shift_month, week_period)
from ..campaign.residents import followers
from ..campaign.tongbao import (WEIGHTS, XLSX_MIMETYPE, monthly_tongbao, tongbao_filename,
                                tongbao_workbook, weekly_filename, weekly_sheets, weekly_workbook)
from ..campaign.villages import (ImportProblems, assign_grid, grid_workers, grids,
                                 import_cases_csv, import_villages_csv, save_cases, save_grid,
                                 save_village, village, villages)
from ..reporting.weekly import last_complete_week
from ..storage.audit import audit
from .blueprint import bp, local_now
# pygal through dashboard, which removes the import hook pygal installs (see there).
from .dashboard import _style, _without_scripts, pygal
from .sign_in import actor, db, login_required, settings

CASE_ROLES = ("admin", "editor", "police")


def _xlsx(book, filename: str):
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    return send_file(buffer, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=filename)


def _upload_text() -> tuple[str, str] | None:
    """(text, file name) of an uploaded CSV, None without one; ImportProblems if not UTF-8."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return None
    try:
        return upload.read().decode("utf-8-sig"), upload.filename
    except UnicodeDecodeError:
        raise ImportProblems([f"{upload.filename}: 不是 UTF-8 编码的 CSV（在 Excel 里另存为"
                              "“CSV UTF-8”）"]) from None


def _month_arg() -> str:
    return request.args.get("month", "").strip() or shift_month(current_month(local_now()), -1)


# -- ranking ---------------------------------------------------------------------------------------
def _period_arg():
    """The period asked for (?period=2026-11 or 2026-W47; default this month)."""
    label = request.args.get("period", "").strip() or current_month(local_now())
    return week_period(label) if "W" in label else month_period(label)


@bp.get("/campaign")
@login_required()
def campaign():
    """Villages ranked by APP registered rate, bars against the target line, and every
    village's figures for the period (a month or an ISO week)."""
    try:
        period = _period_arg()
    except ValueError as exc:
        abort(400, str(exc))
    data = figures(db(), settings(), period)
    rows = sorted(data["villages"], key=lambda v: (-v["app_rate"], v["id"]))
    known = {v["id"] for v in rows}
    # groups.village is checked here, against the villages table, not when config.toml loads.
    unknown = [g for g in settings().groups if g.village and g.village not in known]
    return render_template("admin/campaign.html", rows=rows, period=period,
                           target=settings().campaign.app_target, tips_note=data["tips_note"],
                           unknown_groups=unknown)


# -- villages and grids ------------------------------------------------------------------------------
@bp.route("/campaign/villages", methods=["GET", "POST"])
@login_required()
def campaign_villages():
    if request.method == "POST":
        try:
            upload = _upload_text()
            counts = import_villages_csv(db(), *upload, actor()) if upload else None
        except ImportProblems as exc:
            return render_template("admin/import_problems.html", problems=exc.problems,
                                   back=url_for("admin.campaign_villages")), 400
        if counts is not None:
            flash(f"已导入 {counts['rows']} 行：新增 {counts['villages']} 个村、"
                  f"{counts['grids']} 个网格。", "ok")
        else:
            try:
                save_village(db(), actor(), request.form.get("id", "").strip(),
                             request.form.get("name", ""), request.form.get("town", ""))
            except ValueError as exc:
                flash(str(exc), "error")
            else:
                flash("已保存。", "ok")
        return redirect(url_for("admin.campaign_villages"))
    return render_template("admin/campaign_villages.html", villages=villages(db()))


@bp.route("/campaign/villages/<village_id>", methods=["GET", "POST"])
@login_required()
def campaign_village(village_id: str):
    row = village(db(), village_id)
    if row is None:
        abort(404, "没有这个村。")
    if request.method == "POST":
        f = request.form
        try:
            if f.get("action") == "village":
                save_village(db(), actor(), village_id, f.get("name", ""), f.get("town", ""))
            elif f.get("action") == "assign":
                assign_grid(db(), actor(), f.get("account", "").strip(), f.get("grid_id", ""),
                            assigned=f.get("remove") != "1")
            else:
                save_grid(db(), actor(), village_id, f.get("grid_id", "").strip(),
                          f.get("name", ""), f.get("households", ""), f.get("population", "0"))
        except ValueError as exc:
            flash(str(exc), "error")
        else:
            flash("已保存。", "ok")
        return redirect(url_for("admin.campaign_village", village_id=village_id))
    month = current_month(local_now())
    months = [shift_month(month, -i) for i in range(5, -1, -1)]
    trend = app_rate_trend(db(), [village_id], months)[village_id]
    try:
        period = _period_arg()
    except ValueError as exc:
        abort(400, str(exc))
    figures_by_grid = {g["id"]: g for g in figures(db(), settings(), period)["grids"]}
    grid_rows = grids(db(), village_id)
    for gr in grid_rows:
        gr["workers"] = grid_workers(db(), gr["id"])
        gr["figures"] = figures_by_grid.get(gr["id"])
    return render_template("admin/campaign_village.html", village=row, grids=grid_rows,
                           trend=list(zip(months, trend)), followers=followers(db(), village_id),
                           week=last_complete_week(local_now()), period=period,
                           target=settings().campaign.app_target)


@bp.get("/campaign/villages/<village_id>/sheets.xlsx")
@login_required()
def campaign_sheets_xlsx(village_id: str):
    week = request.args.get("week", "").strip() or last_complete_week(local_now())
    try:
        data = weekly_sheets(db(), settings(), village_id, week)
    except ValueError as exc:
        abort(400, str(exc))
    audit(db(), actor(), "export", "weekly_sheets", f"{village_id}:{data['period'].label}", None,
          {"visits": len(data["visits"])})
    return _xlsx(weekly_workbook(data), weekly_filename(village_id, data["period"].label))


# -- the monthly 通报 ----------------------------------------------------------------------------
def _tongbao_chart(rows, target: float) -> str:
    shown = rows[:40]
    chart = pygal.Bar(style=_style(("#1565c0", "#2e7d32")), js=[], disable_xml_declaration=True,
                      width=900, height=360, legend_at_bottom=True, truncate_label=6,
                      x_label_rotation=45, range=(0, 1), no_data_text="暂无数据",
                      y_labels=sorted({0, 0.25, 0.5, target, 1}),
                      value_formatter=lambda v: f"{v:.0%}")
    chart.add_xml_filter(_without_scripts)
    chart.x_labels = [r["name"] for r in shown]
    chart.add("APP注册率", [r["app_rate"] for r in shown])
    chart.add("入户覆盖率", [r["coverage"] for r in shown])
    return chart.render(is_unicode=True)


@bp.get("/campaign/tongbao")
@login_required()
def campaign_tongbao():
    month = _month_arg()
    try:
        data = monthly_tongbao(db(), settings(), month)
    except ValueError as exc:
        return render_template("admin/campaign_tongbao.html", month=month, data=None,
                               error=str(exc)), 400
    return render_template("admin/campaign_tongbao.html", month=data["month"], data=data,
                           error=None, weights=WEIGHTS,
                           chart=_tongbao_chart(data["rows"], data["target"]))


@bp.get("/campaign/tongbao.xlsx")
@login_required()
def campaign_tongbao_xlsx():
    try:
        data = monthly_tongbao(db(), settings(), _month_arg())
    except ValueError as exc:
        abort(400, str(exc))
    audit(db(), actor(), "export", "tongbao", data["month"], None, {"villages": len(data["rows"])})
    return _xlsx(tongbao_workbook(data), tongbao_filename(data["month"]))


# -- police: 发案 and 损失 -------------------------------------------------------------------------
@bp.route("/campaign/cases", methods=["GET", "POST"])
@login_required(roles=CASE_ROLES)
def campaign_cases():
    if request.method == "POST":
        try:
            upload = _upload_text()
            n = import_cases_csv(db(), *upload, actor()) if upload else None
        except ImportProblems as exc:
            return render_template("admin/import_problems.html", problems=exc.problems,
                                   back=url_for("admin.campaign_cases")), 400
        if n is not None:
            flash(f"已导入 {n} 行。", "ok")
        else:
            f = request.form
            try:
                save_cases(db(), actor(), f.get("village_id", ""), f.get("month", ""),
                           f.get("cases", ""), f.get("losses", ""))
            except ValueError as exc:
                flash(str(exc), "error")
            else:
                flash("已保存。", "ok")
        return redirect(url_for("admin.campaign_cases", month=request.form.get("month", "")))
    month = request.args.get("month", "").strip() or current_month(local_now())
    try:
        month_period(month)
    except ValueError as exc:
        abort(400, str(exc))
    rows = db().execute(
        "SELECT v.id, v.name, c.cases, c.losses, c.entered_by FROM villages v LEFT JOIN "
        "village_cases c ON c.village_id = v.id AND c.month = ? ORDER BY v.id",
        [month]).fetchall()
    return render_template("admin/campaign_cases.html", month=month, rows=rows)
