"""What residents made of the answers: 有用 / 没用 per case (flagged for review when many 没用),
and the unanswered and low-confidence questions grouped by similarity for editors to answer."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app, render_template, request

from ..loop.feedback import ratings
from ..loop.grouping import group_questions
from .blueprint import bp, local_now
from .inbox import _published_cases, local_time
from .sign_in import db, login_required


@bp.get("/feedback")
@login_required()
def feedback():
    settings = current_app.config["SETTINGS"]
    return render_template("admin/feedback.html",
                           rows=ratings(db(), settings.loop.flag_unhelpful),
                           threshold=settings.loop.flag_unhelpful)


def unanswered_groups(database, low_score: float, since_iso: str) -> list[dict]:
    rows = [dict(zip(("id", "text", "user_hash", "asked_at"), r)) for r in database.execute(
        "SELECT id, text, user_hash, asked_at FROM questions WHERE asked_at >= ? AND "
        "(category = 'none' OR score < ?) ORDER BY asked_at DESC LIMIT 3000",
        [since_iso, low_score])]
    return group_questions(rows)


@bp.get("/question-groups")
@login_required()
def question_groups():
    settings = current_app.config["SETTINGS"]
    days = max(1, min(90, request.args.get("days", 30, type=int)))
    since = (local_now() - timedelta(days=days)).isoformat(timespec="seconds")
    groups = unanswered_groups(db(), settings.admin.low_confidence_score, since)[:100]
    from zoneinfo import ZoneInfo
    tz = ZoneInfo(settings.scheduler.timezone)
    for g in groups:
        g["time"] = local_time(g["lead"]["asked_at"], tz)
    return render_template("admin/question_groups.html", groups=groups, days=days,
                           cases=_published_cases(), here=request.full_path)
