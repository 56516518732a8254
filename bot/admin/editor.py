"""Cases and tips: list, search, edit with live preview, publish/archive, history, alerts."""
from __future__ import annotations

import re

from flask import (abort, current_app, flash, jsonify, redirect, render_template, request,
                   url_for)

from ..content.editing import (KINDS, current, current_version, history, parse_source, restore,
                               save_item, set_status, unified_diff, version_source)
from ..content.model import AUDIENCE_NAMES, AUDIENCES, SEASONS, load_taxonomy, review_status
from ..content.render import render_article
from ..pushing.alerts import create_alert
from ..pushing.tips import render_tip
from ..web.pages import render_markdown
from .blueprint import bp, local_now
from .push_status import send_alert_now
from .sign_in import actor, db, login_required
from .forms import case_fields, case_source, field_errors, tip_fields, tip_source

PAGE_SIZE = 50


def _kind(kind: str) -> str:
    if kind not in KINDS:
        abort(404)
    return kind


def _item_or_404(kind: str, item_id: str) -> tuple[str, dict]:
    kind = _kind(kind)
    row = current(db(), kind, item_id)
    if row is None:
        abort(404)
    return kind, row


def _content_dir():
    return current_app.config["SETTINGS"].content.dir


def _taxonomy():
    return {k: v for k, v in load_taxonomy(_content_dir()).items() if k != "none"}


def _form_fields(kind: str) -> dict:
    f = request.form
    fields = {k: f.get(k, "") for k in f if k not in ("csrf_token", "audiences", "categories",
                                                        "seasons", "action")}
    fields["audiences"] = f.getlist("audiences")
    if kind == "tip":
        fields["categories"] = f.getlist("categories")
        fields["seasons"] = f.getlist("seasons")
    return fields


def _source_of(kind: str, fields: dict):
    return case_source(fields) if kind == "case" else tip_source(fields)


def _fields_of(kind: str, source: str) -> dict:
    item, _ = parse_source(kind, source, _content_dir())
    if item is None:
        return {}
    return case_fields(item) if kind == "case" else tip_fields(item)


def _published_changed() -> None:
    """Ask for the new answer index: built in a background thread of this worker (or by the
    scheduler, whichever comes first), never inside this request; every worker swaps to it
    when it is ready (within a second for the shipped bank)."""
    current_app.extensions["answers"].request_build()


def _editor(kind: str, fields: dict, errors=None, item_id: str | None = None, row=None,
            conflict=None):
    return render_template("admin/item_edit.html", kind=kind, f=fields, errors=errors or {},
                           item_id=item_id, row=row, taxonomy=_taxonomy(), audiences=AUDIENCES,
                           audience_names=AUDIENCE_NAMES,
                           seasons=SEASONS, groups=current_app.config["SETTINGS"].groups,
                           conflict=conflict)


@bp.get("/items/<kind>")
@login_required()
def items(kind: str):
    kind = _kind(kind)
    table = KINDS[kind][0]
    q = request.args.get("q", "").strip()
    status = request.args.get("status", "")
    category = request.args.get("category", "")
    audience = request.args.get("audience", "")
    where, params = ["1"], []
    if q:
        where.append("(id LIKE ? OR title LIKE ? OR source LIKE ?)")
        params += [f"%{q}%"] * 3
    if status in ("draft", "published", "archived"):
        where.append("status = ?")
        params.append(status)
    if category:
        where.append("source LIKE ?" if kind == "tip" else "category = ?")
        params.append(f"%{category}%" if kind == "tip" else category)
    if audience:
        where.append("source LIKE ?")
        params.append(f"%{audience}%")
    review = request.args.get("review", "") if kind == "case" else ""
    rows = list(db()[table].rows_where(" AND ".join(where), params, order_by="updated_at desc, id",
                                       limit=None if review else PAGE_SIZE * 10))
    if kind == "case":
        rows = _with_review_status(rows)
        if review == "due":
            rows = [r for r in rows if r["review"] != "ok"]
    return render_template("admin/items.html", kind=kind, rows=rows, q=q, status=status,
                           category=category, audience=audience, taxonomy=_taxonomy(),
                           audiences=AUDIENCES, audience_names=AUDIENCE_NAMES, review=review)


def _with_review_status(rows: list[dict]) -> list[dict]:
    """Each case row with 'reviewed' (its date or '') and 'review' (ok, stale or missing)."""
    today = local_now().date()
    out = []
    for r in rows:
        fm = r["source"].split("\n---", 1)[0]
        m = re.search(r"^reviewed:\s*'?(\d{4}-\d{2}-\d{2})", fm, re.M)
        reviewed = m.group(1) if m else ""
        out.append({**r, "reviewed": reviewed, "review": review_status(reviewed, today)})
    return out


@bp.route("/items/<kind>/new", methods=["GET", "POST"])
@login_required()
def new_item(kind: str):
    kind = _kind(kind)
    if request.method == "GET":
        fields = {"audiences": ["general"]}
        question_id = request.args.get("from_question", type=int)
        if question_id and kind == "case":
            fields.update(_fields_from_question(question_id))
        return _editor(kind, fields)
    fields = _form_fields(kind)
    source, owner = _source_of(kind, fields)
    result = save_item(db(), kind, source, actor(), _content_dir(), status="draft")
    if not result.ok:
        return _editor(kind, fields, field_errors(result.problems, owner)), 422
    flash("已保存为草稿。", "ok")
    return redirect(url_for("admin.edit_item", kind=kind, item_id=result.item_id))


def _fields_from_question(question_id: int) -> dict:
    row = db().execute("SELECT text, category FROM questions WHERE id = ?",
                       [question_id]).fetchone()
    if row is None:
        return {}
    category = row[1] if row[1] in _taxonomy() else "general"
    return {"category": category, "title": row[0][:30], "examples": row[0]}


@bp.route("/items/<kind>/<item_id>", methods=["GET", "POST"])
@login_required()
def edit_item(kind: str, item_id: str):
    kind, row = _item_or_404(kind, item_id)
    if request.method == "GET":
        fields = _fields_of(kind, row["source"])
        fields["base_version"] = current_version(db(), kind, item_id)
        return _editor(kind, fields, item_id=item_id, row=row)
    fields = _form_fields(kind)
    fields["id"] = item_id
    base = fields.get("base_version", "")
    if base and not base.isdigit():
        abort(400, "base_version 不对")
    source, owner = _source_of(kind, fields)
    result = save_item(db(), kind, source, actor(), _content_dir(), expected_id=item_id,
                       base_version=int(base) if base else None)
    if result.conflict:
        # Nothing lost: the form keeps what they typed, now based on the newest version, and
        # the page shows what changed from it; saving again is their deliberate choice.
        c = result.conflict
        fields["base_version"] = c["current"]
        diff = unified_diff(c["source"], source, f"第 {c['current']} 版（{c['editor']}）",
                            "你的修改")
        return _editor(kind, fields, {"_form": result.problems}, item_id, row,
                       conflict={**c, "diff": diff}), 409
    if not result.ok:
        return _editor(kind, fields, field_errors(result.problems, owner), item_id, row), 422
    _published_changed()
    flash("已保存。" + ("已发布的内容立即生效。" if row["status"] == "published" else ""), "ok")
    return redirect(url_for("admin.edit_item", kind=kind, item_id=item_id))


@bp.post("/items/<kind>/<item_id>/status")
@login_required()
def change_status(kind: str, item_id: str):
    kind = _kind(kind)
    status = request.form.get("status", "")
    if status not in ("draft", "published", "archived"):
        abort(400, "不认识的状态。")
    if not set_status(db(), kind, item_id, status, actor()):
        abort(404)
    _published_changed()
    flash({"published": "已发布，机器人马上用它回答。", "archived": "已归档（不会删除）。",
           "draft": "已改回草稿。"}[status], "ok")
    return redirect(url_for("admin.edit_item", kind=kind, item_id=item_id))


@bp.get("/items/<kind>/<item_id>/history")
@login_required()
def item_history(kind: str, item_id: str):
    kind, row = _item_or_404(kind, item_id)
    versions = history(db(), kind, item_id)
    diffs = []
    for newer, older in zip(versions, versions[1:]):
        diffs.append((newer, older, unified_diff(older["source"], newer["source"],
                                                 f"v{older['version']}", f"v{newer['version']}")))
    return render_template("admin/item_history.html", kind=kind, row=row, versions=versions,
                           diffs=diffs)


@bp.post("/items/<kind>/<item_id>/restore/<int:version>")
@login_required()
def restore_item(kind: str, item_id: str, version: int):
    kind = _kind(kind)
    if version_source(db(), kind, item_id, version) is None:
        abort(404)
    result = restore(db(), kind, item_id, version, actor(), _content_dir())
    _published_changed()
    if result.ok:
        flash(f"已恢复到第 {version} 版（作为新的一版保存）。", "ok")
    else:
        flash("这一版不能通过现在的检查：" + "；".join(result.problems), "error")
    return redirect(url_for("admin.item_history", kind=kind, item_id=item_id))


@bp.post("/items/<kind>/<item_id>/alert")
@login_required()
def make_alert(kind: str, item_id: str):
    """本周预警: goes to the chosen groups (or all) at their next slot, once."""
    kind, row = _item_or_404(kind, item_id)
    if row["status"] != "published":
        flash("请先发布，再设为本周预警。", "error")
        return redirect(url_for("admin.edit_item", kind=kind, item_id=item_id))
    known = {g.id for g in current_app.config["SETTINGS"].groups}
    chosen = [g for g in request.form.getlist("groups") if g in known]
    alert_id = create_alert(db(), actor(), kind, item_id, chosen, request.form.get("note", ""))
    names = {g.id: g.name for g in current_app.config["SETTINGS"].groups}
    targets = "、".join(names[g] for g in chosen) if chosen else "所有群"
    if request.form.get("send_now"):
        flash(f"已设为本周预警 #{alert_id}（{targets}），现在就发。", "ok")
        send_alert_now(alert_id)
    else:
        flash(f"已设为本周预警 #{alert_id}：{targets}在下一次推送时收到。", "ok")
    return redirect(url_for("admin.edit_item", kind=kind, item_id=item_id))


@bp.post("/preview/<kind>")
@login_required()
def preview(kind: str):
    """Live preview: the WeChat reply and the /cases/<id> page, or the errors by field."""
    kind = _kind(kind)
    fields = _form_fields(kind)
    source, owner = _source_of(kind, fields)
    item, problems = parse_source(kind, source, _content_dir())
    if item is None:
        return jsonify({"ok": False, "errors": field_errors(problems, owner)})
    if kind == "tip":
        message = render_tip(item)
        return jsonify({"ok": True, "reply": message.text, "page": ""})
    public_url = current_app.config["SETTINGS"].server.public_url.rstrip("/")
    reply = render_article(item, f"{public_url}/cases/{item.id}", 2000)
    page = render_template("admin/case_preview.html", article=item,
                           sections=[(n, render_markdown(t)) for n, t in item.sections.items()])
    return jsonify({"ok": True, "reply": reply, "page": page})
