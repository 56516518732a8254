"""Answers that come later: after an editor publishes or edits a case, the questions the bot
could not answer (or answered with little confidence) are asked again; each one the new content
now answers is sent to the resident who asked as a customer-service message ("您前面问的…，现在有
答案了"), once, within the quota; a resident whose window has closed sees it the next time they
write. The ``late_answers`` row (keyed by the question) makes it once.

Run when the shared ``content_version`` moves: by the scheduler's tick (``scheduler.py``) or
``python -m bot late-answers``.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..content.render import fit_bytes
from ..storage.db import write_transaction
from ..storage.library import content_version

log = logging.getLogger(__name__)

VERSION_KEY = "late_answers_content_version"
LOOKBACK_DAYS = 30


def _quote(text: str) -> str:
    return fit_bytes(" ".join(text.split()), 90)


def message_for(text: str, answer: str, limit: int) -> str:
    return fit_bytes(f"您前面问的“{_quote(text)}”，现在有答案了：\n\n{answer}", limit)


def deliver(loop, now: datetime, force: bool = False) -> dict:
    """Ask the waiting questions again and deliver what is now answered; counts by outcome.
    Does nothing unless published content changed since the last run (or ``force``)."""
    db = loop.db()
    version = content_version(db)
    row = db.execute("SELECT value FROM meta WHERE key = ?", [VERSION_KEY]).fetchone()
    if row is None:   # first run: remember where we start, nothing is "later" yet
        with write_transaction(db):
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                       [VERSION_KEY, str(version)])
        if not force:
            return {}
    elif row[0] == str(version) and not force:
        return {}
    with write_transaction(db):
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                   [VERSION_KEY, str(version)])
    # Answer from the content that just changed: the index for a new version is built in the
    # background, so wait for it rather than ask the old one.
    loop.answers.wait_until_current()
    settings = loop.settings
    low = settings.admin.low_confidence_score
    since = (now - timedelta(days=LOOKBACK_DAYS)).isoformat(timespec="seconds")
    waiting = db.execute(
        "SELECT q.id, q.user_hash, q.text, q.asked_at FROM questions q WHERE q.asked_at >= ? "
        "AND q.user_hash != '' AND q.channel LIKE 'wechat%' AND (q.category = 'none' OR "
        "q.score < ?) AND NOT EXISTS (SELECT 1 FROM late_answers l WHERE l.question_id = q.id) "
        "ORDER BY q.asked_at DESC", [since, low]).fetchall()
    counts: dict[str, int] = {}
    answered_for: set[tuple[str, str]] = set()   # one message per resident and case
    window = timedelta(hours=settings.loop.cs_window_hours)
    limit = settings.wechat.reply_max_bytes
    for qid, user_hash, text, asked_at in waiting:
        answer = loop.answers.ask(text)
        if answer["category"] == "none" or answer["score"] < low or not answer.get("case_ids"):
            continue
        case_id = answer["case_ids"][0]
        if (user_hash, case_id) in answered_for:
            status = "merged"
        elif settings.loop.customer_service and \
                datetime.fromisoformat(asked_at) + window >= now and \
                loop.outreach.window(user_hash, now) is not None:
            status = loop.outreach.send(user_hash, f"late:{qid}",
                                        message_for(text, answer["answer"], limit), now)
            status = {"sent": "sent", "duplicate": "sent"}.get(status, "pending"
                                                                if status == "closed" else status)
        else:
            status = "pending"
        answered_for.add((user_hash, case_id))
        with write_transaction(db):
            db.execute("INSERT OR IGNORE INTO late_answers (question_id, user_hash, case_id, "
                       "found_at, status) VALUES (?, ?, ?, ?, ?)",
                       [qid, user_hash, case_id, now.isoformat(timespec="seconds"), status])
        counts[status] = counts.get(status, 0) + 1
    if counts:
        log.info("late answers: %s", counts)
    return counts


def pending_notice(loop, user_hash: str) -> str:
    """For a resident's next message: the answers that came while their window was closed
    (a short line with the link each), marked shown."""
    db = loop.db()
    rows = db.execute("SELECT l.question_id, q.text, l.case_id FROM late_answers l JOIN "
                      "questions q ON q.id = l.question_id WHERE l.user_hash = ? AND "
                      "l.status IN ('pending', 'quota', 'failed') ORDER BY l.question_id DESC "
                      "LIMIT 3", [user_hash]).fetchall()
    if not rows:
        return ""
    with write_transaction(db):
        db.execute(f"UPDATE late_answers SET status = 'shown' WHERE question_id IN "
                   f"({', '.join('?' * len(rows))})", [r[0] for r in rows])
    return "\n".join(f"您前面问的“{_quote(text)}”，现在有答案了：{loop.answers.case_url(case_id)}"
                     for _, text, case_id in rows)
