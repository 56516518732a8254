"""Retention of residents' data (个人信息保护法: keep personal information no longer than needed).

Questions older than ``retention.question_months`` keep their time, channel, category, urgency
and score (the weekly statistics still count them) but lose what could identify or describe a
person: the text and the user hash. Delivery records (``wechat_deliveries``: replies, the
question and the user hash) serve only to answer WeChat's redeliveries within seconds; the
webhook prunes them after an hour while traffic flows, and this removes any older than a day.
The scheduler runs it daily; ``python -m bot purge [--dry-run]`` runs it by hand.
"""
from __future__ import annotations

import calendar
import logging
from datetime import datetime, timezone

from .db import write_transaction

log = logging.getLogger(__name__)

DELIVERY_KEEP_SECONDS = 24 * 3600
CHUNK = 5000   # rows per transaction: the webhook's writers never wait long for the lock


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the 31st becomes the last day)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def purge(db, now: datetime, question_months: int, dry_run: bool = False) -> dict:
    """Anonymise old questions and delete old delivery records; counts of what was (or, with
    ``dry_run``, would be) changed."""
    cutoff = months_before(now.astimezone(timezone.utc), question_months)
    cutoff_iso = cutoff.isoformat(timespec="seconds")
    delivery_cutoff = now.timestamp() - DELIVERY_KEEP_SECONDS
    old_questions = ("FROM questions WHERE asked_at < ? "
                     "AND (COALESCE(text, '') != '' OR user_hash IS NOT NULL)")
    result = {"cutoff": cutoff_iso, "questions": 0, "wechat_deliveries": 0}
    if dry_run:
        result["questions"] = db.execute(f"SELECT COUNT(*) {old_questions}",
                                         [cutoff_iso]).fetchone()[0]
        result["wechat_deliveries"] = db.execute(
            "SELECT COUNT(*) FROM wechat_deliveries WHERE received_at < ?",
            [delivery_cutoff]).fetchone()[0]
        return result
    while True:
        with write_transaction(db):
            n = db.execute(f"UPDATE questions SET text = '', user_hash = NULL WHERE id IN "
                           f"(SELECT id {old_questions} LIMIT {CHUNK})", [cutoff_iso]).rowcount
        result["questions"] += n
        if n < CHUNK:
            break
    with write_transaction(db):
        result["wechat_deliveries"] = db.execute(
            "DELETE FROM wechat_deliveries WHERE received_at < ?", [delivery_cutoff]).rowcount
    if result["questions"] or result["wechat_deliveries"]:
        log.info("retention: anonymised %d question(s) asked before %s, deleted %d delivery "
                 "record(s)", result["questions"], cutoff_iso, result["wechat_deliveries"])
    return result
