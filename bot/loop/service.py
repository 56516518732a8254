"""``ResidentLoop``: what the WeChat handlers ask of the residents' loop, over one database.

Handlers get it through ``Context.loop``; it holds no Flask and no wechatpy, so the scheduler
and the tests use it as it is.
"""
from __future__ import annotations

from datetime import datetime, timezone

from ..content.render import fit_bytes, utf8_len
from . import watchlist


class ResidentLoop:
    def __init__(self, db_factory, settings):
        self._db = db_factory
        self.settings = settings

    def db(self):
        return self._db()

    @staticmethod
    def now() -> datetime:
        return datetime.now(timezone.utc)

    # -- links and numbers ----------------------------------------------------------------
    def check(self, text: str) -> str:
        return watchlist.check_text(self.db(), text)

    def answer_with_check(self, text: str, answer: dict, answers, limit: int) -> str:
        """The answer, and what is known about the message's links and numbers, within
        ``limit`` bytes: the answer gives way (fewer bullets), the check is kept whole."""
        note = self.check(text)
        if not note:
            return answer["answer"]
        budget = max(0, limit - utf8_len(note) - 2)
        article = answers.article((answer.get("case_ids") or [""])[0])
        body = answers.compose(article, answer["urgent"], budget) if article and budget > 200 \
            else fit_bytes(answer["answer"], budget)
        return fit_bytes(note + "\n\n" + body, limit) if body else fit_bytes(note, limit)
