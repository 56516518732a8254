"""Residents' questions: the latest first, with filters, and one click to teach the bot.

"加为例句" appends a question to a published case's example questions (validated and versioned
by ``editing.save_item`` like any edit), so the bot answers it, and questions like it, with that
case from the next request on. "新建案例" opens the case editor prefilled from the question.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from ..content.editing import current, parse_source, save_item
from ..content.model import load_taxonomy
from ..storage.db import write_transaction
from ..storage.questions import CHANNEL_NAMES
from .blueprint import bp
from .sign_in import actor, db, login_required
from .forms import case_fields, case_source

PAGE_SIZE = 50
SHOW = {"": "全部", "unanswered": "未答上（无关）", "low": "把握不大", "urgent": "紧急求助"}


def _settings():
    return current_app.config["SETTINGS"]


def local_time(iso: str | None, tz: ZoneInfo) -> str:
    """'2026-11-23T01:05:00+00:00' -> '2026-11-23 09:05' in the scheduler's time zone."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    return moment.strftime("%Y-%m-%d %H:%M")


def _filters() -> tuple[dict, str, list]:
    """The filter values from the query string, and the WHERE clause they select."""
    args = request.args
    f = {"show": args.get("show", ""), "category": args.get("category", ""),
         "q": args.get("q", "").strip()[:200]}
    if f["show"] not in SHOW:
        f["show"] = ""
    where, params = ["1"], []
    if f["show"] == "unanswered":
        where.append("category = 'none'")
    elif f["show"] == "low":
        where.append("score < ? AND COALESCE(category, '') != 'none'")
        params.append(_settings().admin.low_confidence_score)
    elif f["show"] == "urgent":
        where.append("urgent = 1")
    if f["category"]:
        where.append("category = ?")
        params.append(f["category"])
    if f["q"]:
        where.append("instr(text, ?) > 0")
        params.append(f["q"])
    return f, " AND ".join(where), params


def _published_cases() -> list[dict]:
    return [{"id": r[0], "category": r[1], "title": r[2]} for r in db().execute(
        "SELECT id, category, title FROM cases WHERE status = 'published' "
        "ORDER BY category, id").fetchall()]


@bp.get("/questions")
@login_required()
def questions():
    f, where, params = _filters()
    page = max(1, request.args.get("page", 1, type=int))
    total = db().execute(f"SELECT COUNT(*) FROM questions WHERE {where}", params).fetchone()[0]
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    rows = [dict(zip(("id", "asked_at", "channel", "text", "category", "urgent", "score",
                      "case_id"), r)) for r in db().execute(
        f"SELECT id, asked_at, channel, text, category, urgent, score, case_id FROM questions "
        f"WHERE {where} ORDER BY asked_at DESC, id DESC LIMIT ? OFFSET ?",
        [*params, PAGE_SIZE, (page - 1) * PAGE_SIZE]).fetchall()]
    tz = ZoneInfo(_settings().scheduler.timezone)
    for r in rows:
        r["time"] = local_time(r["asked_at"], tz)
    cases = _published_cases()
    by_category: dict[str, list[dict]] = {}
    for c in cases:
        by_category.setdefault(c["category"], []).append(c)
    return render_template(
        "admin/questions.html", rows=rows, f=f, show_options=SHOW, page=page, pages=pages,
        total=total, taxonomy=load_taxonomy(_settings().content.dir), cases=cases,
        by_category=by_category, low=_settings().admin.low_confidence_score,
        channel_names=CHANNEL_NAMES,
        page_params={k: v for k, v in f.items() if v}, here=request.full_path)


def _back() -> str:
    target = request.form.get("next", "")
    return target if target.startswith("/admin/questions") else url_for("admin.questions")


def add_example(database, content_dir, case_id: str, text: str, editor: str,
                question_id: int) -> list[str]:
    """Append ``text`` to a published case's examples; the problems (empty when saved).
    Read, change and save in one write transaction: parallel adds all land."""
    with write_transaction(database):
        return _add_example(database, content_dir, case_id, text, editor, question_id)


def _add_example(database, content_dir, case_id, text, editor, question_id) -> list[str]:
    row = current(database, "case", case_id)
    if row is None or row["status"] != "published":
        return [f"没有已发布的案例“{case_id}”。"]
    article, problems = parse_source("case", row["source"], content_dir)
    if article is None:
        return problems
    fields = case_fields(article)
    existing = [ln.strip() for ln in fields["examples"].split("\n")]
    if text in existing:
        return [f"这句话已经是“{article.title}”的例句了。"]
    fields["examples"] = "\n".join([*existing, text])
    source, _ = case_source(fields)
    result = save_item(database, "case", source, editor, content_dir, expected_id=case_id,
                       note=f"加入群众提问 #{question_id} 作例句")
    return [] if result.ok else result.problems


@bp.post("/questions/<int:question_id>/example")
@login_required()
def add_question_as_example(question_id: int):
    row = db().execute("SELECT text FROM questions WHERE id = ?", [question_id]).fetchone()
    if row is None:
        abort(404)
    text = " ".join(row[0].split())   # one example is one line
    case_id = request.form.get("case_id", "")
    if not text:
        flash("这条提问是空的。", "error")
        return redirect(_back())
    problems = add_example(db(), _settings().content.dir, case_id, text, actor(), question_id)
    if problems:
        flash("没有加上：" + "；".join(problems), "error")
    else:
        flash(f"已把提问 #{question_id} 加为案例“{case_id}”的例句，机器人马上按它回答。", "ok")
    return redirect(_back())
