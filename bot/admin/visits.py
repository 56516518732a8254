"""Grid workers' pages (网格员, on a phone): their grids, a grid's households, the visit form
(入户宣传登记) with the household's last status first when it is a 回头看, and the paper 登记表
import. Every page checks the grid against the account: a grid worker reaching another grid's
household by URL gets 404. Town staff see every grid; police none.
"""
from __future__ import annotations

import uuid

from flask import abort, flash, g, jsonify, redirect, render_template, request, url_for

from ..campaign.figures import today_in
from ..campaign.villages import ImportProblems, account_grid_ids, grid, grids
from ..campaign.visits import (APP_STATUSES, KEY_GROUPS, MATERIALS, NOT_INSTALLED_REASONS,
                               VisitForm, VisitProblems, find_household, household,
                               households_of_grid,
                               import_visits_xlsx, last_visit, record_visit, visit_by_submission)
from .blueprint import bp, local_now
from .sign_in import actor, db, login_required, settings

FIELD_ROLES = ("admin", "editor", "grid")


def visible_grid_ids() -> list[str] | None:
    """The grids the signed-in account may see: None means all (town staff)."""
    if g.user["role"] in ("admin", "editor"):
        return None
    if g.user["role"] == "grid":
        return account_grid_ids(db(), g.user["id"])
    return []


def grid_or_404(grid_id: str) -> dict:
    allowed = visible_grid_ids()
    row = grid(db(), grid_id)
    if row is None or (allowed is not None and grid_id not in allowed):
        abort(404, "没有这个网格，或不是您负责的网格。")
    return row


def household_or_404(household_id: int) -> tuple[dict, dict]:
    home = household(db(), household_id)
    if home is None:
        abort(404, "没有这户，或不在您负责的网格。")
    allowed = visible_grid_ids()
    if allowed is not None and home["grid_id"] not in allowed:
        abort(404, "没有这户，或不在您负责的网格。")
    return home, grid(db(), home["grid_id"])


def _choices() -> dict:
    return {"app_statuses": APP_STATUSES, "key_groups": KEY_GROUPS, "materials": MATERIALS,
            "reasons": NOT_INSTALLED_REASONS}


@bp.get("/grids")
@login_required(roles=FIELD_ROLES)
def my_grids():
    allowed = visible_grid_ids()
    rows = grids(db(), grid_ids=allowed) if allowed is not None else grids(db())
    return render_template("admin/grids.html", grids=rows)


@bp.get("/grids/<grid_id>")
@login_required(roles=FIELD_ROLES)
def grid_page(grid_id: str):
    row = grid_or_404(grid_id)
    q = request.args.get("q", "")
    return render_template("admin/grid.html", grid=row, q=q, statuses=APP_STATUSES,
                           households=households_of_grid(db(), grid_id, q))


def _form_page(grid_row: dict, home: dict | None, values: dict, errors: dict, status: int = 200):
    previous = last_visit(db(), home["id"]) if home else None
    return render_template("admin/visit_form.html", grid=grid_row, household=home,
                           previous=previous, values=values, errors=errors,
                           today=today_in(settings(), local_now()).isoformat(),
                           **_choices()), status


@bp.get("/grids/<grid_id>/visit")
@login_required(roles=FIELD_ROLES)
def new_visit(grid_id: str):
    row = grid_or_404(grid_id)
    return _form_page(row, None, {"submission_id": uuid.uuid4().hex}, {})


@bp.get("/households/<int:household_id>")
@login_required(roles=FIELD_ROLES)
def household_page(household_id: int):
    """A 回头看: the household's last visit first, then the form for this visit."""
    home, row = household_or_404(household_id)
    return _form_page(row, home, {"submission_id": uuid.uuid4().hex,
                                  "address": home["address"]}, {})


def _form_from_request(grid_id: str) -> VisitForm:
    f = request.form
    return VisitForm(
        submission_id=f.get("submission_id", ""), grid_id=grid_id, address=f.get("address", ""),
        head_surname=f.get("head_surname", ""), phone_masked=f.get("phone_masked", ""),
        visit_date=f.get("visit_date", ""), people_present=f.get("people_present", "0"),
        key_groups=tuple(f.getlist("key_groups")), materials=tuple(f.getlist("materials")),
        app_status=f.get("app_status", ""),
        app_reason=f.get("app_reason_other", "").strip() or f.get("app_reason", ""),
        pledge=f.get("pledge") == "1", notes=f.get("notes", ""))


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@bp.post("/grids/<grid_id>/visit")
@login_required(roles=FIELD_ROLES)
def save_visit(grid_id: str):
    """Store a visit; a retried submission (same submission id) is stored once. The page (or,
    for the form's background retry, the JSON) says 已保存 only after the row is stored."""
    row = grid_or_404(grid_id)
    form = _form_from_request(grid_id)
    earlier = visit_by_submission(db(), form.submission_id)
    if earlier and earlier["grid_id"] != grid_id:
        abort(404)
    try:
        visit, _ = record_visit(db(), form, actor(), today_in(settings(), local_now()))
    except VisitProblems as exc:
        if _wants_json():
            return jsonify({"saved": False, "errors": exc.problems}), 400
        home = find_household(db(), grid_id, form.address) if form.address else None
        values = {k: v for k, v in request.form.items()}
        values["key_groups"] = request.form.getlist("key_groups")
        values["materials"] = request.form.getlist("materials")
        return _form_page(row, home, values, exc.problems, 400)
    saved = url_for("admin.visit_saved", submission_id=visit["submission_id"])
    if _wants_json():
        return jsonify({"saved": True, "visit_id": visit["id"], "url": saved})
    return redirect(saved, code=303)


@bp.get("/visits/<submission_id>")
@login_required(roles=FIELD_ROLES)
def visit_saved(submission_id: str):
    visit = visit_by_submission(db(), submission_id)
    if visit is None:
        abort(404, "没有找到这次登记。")
    row = grid_or_404(visit["grid_id"])
    home = household(db(), visit["household_id"])
    return render_template("admin/visit_saved.html", visit=visit, grid=row, household=home,
                           statuses=APP_STATUSES)


@bp.post("/grids/<grid_id>/import")
@login_required(roles=FIELD_ROLES)
def import_visits(grid_id: str):
    """The paper 登记表 as XLSX; a grid worker's rows must be in their own grids."""
    grid_or_404(grid_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("请选择 XLSX 文件。", "error")
        return redirect(url_for("admin.grid_page", grid_id=grid_id))
    try:
        counts = import_visits_xlsx(db(), upload.stream, upload.filename, actor(),
                                    today_in(settings(), local_now()),
                                    allowed_grids=visible_grid_ids())
    except ImportProblems as exc:
        return render_template("admin/import_problems.html", problems=exc.problems,
                               back=url_for("admin.grid_page", grid_id=grid_id)), 400
    flash(f"已导入：{counts['rows']} 行，新存 {counts['stored']} 条，已有 {counts['already']} 条。",
          "ok")
    return redirect(url_for("admin.grid_page", grid_id=grid_id))
