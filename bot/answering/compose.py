"""From a ``Match`` to the answer JSON and the reply text, within WeChat's byte budget: the
emergency steps first when urgent (stop-now steps for a scam in progress, 110 and stop-payment
for money already lost), then the recognised article, or the menu when nothing fits."""
from __future__ import annotations

from functools import lru_cache

from ..content.model import Article, localize
from ..content.render import fit_bytes, render_article
from ..content.replies import Replies
from .engine import NONE, Match

# Categories that are not a scam type, left out of the '常见骗局' overview.
_NOT_SCAM_TYPES = (NONE, "general", "emergency", "report", "official_channels")


class ReplyComposer:
    """Composes replies from one set of articles; immutable, so answers can be cached per Match."""

    def __init__(self, articles: dict[str, Article], replies: Replies, taxonomy: dict[str, str],
                 public_url: str, reply_max_bytes: int, local: dict | None = None):
        self.articles = articles
        self.replies = replies
        self.taxonomy = taxonomy
        self.public_url = public_url.rstrip("/")
        self.reply_max_bytes = reply_max_bytes
        self.local = dict(local or {})   # [local] config: fills {本地…} placeholders
        # A reply's text depends only on its first article and urgency, not on the message:
        # composed once per (article, urgent kind), so distinct messages hit the cache too.
        self._title_and_text = lru_cache(maxsize=4096)(self._compose_title_and_text)

    def answer_for(self, match: Match) -> dict:
        menu = match.category == NONE and not match.urgent
        first = match.case_ids[0] if match.case_ids and not menu else None
        kind = match.urgent_kind if match.urgent else None
        title, answer = self._title_and_text(first, kind, match.urgent, menu)
        return {"category": match.category, "urgent": match.urgent, "urgent_kind": kind,
                "title": title,
                "answer": answer, "case_ids": list(match.case_ids), "score": match.score}

    def _compose_title_and_text(self, case_id: str | None, urgent_kind: str | None,
                                urgent: bool, menu: bool) -> tuple[str, str]:
        if menu:
            return "反诈助手", self.replies.menu
        article = self.articles.get(case_id) if case_id else None
        return (article.title if article else "已被骗求助"), \
            self.compose(article, urgent=urgent, urgent_kind=urgent_kind)

    def case_url(self, case_id: str) -> str:
        return f"{self.public_url}/cases/{case_id}"

    def compose(self, article: Article | None, urgent: bool = False,
                limit: int | None = None, urgent_kind: str | None = None) -> str:
        """Reply text: emergency steps first when urgent (in progress: hang up and stop; lost,
        the default: 110 and stop-payment), then the article's essentials."""
        limit = limit or self.reply_max_bytes
        steps = self.replies.in_progress_steps if urgent_kind == "in_progress" \
            else self.replies.emergency_steps
        head = [steps, ""] if urgent else []
        if article is None:
            return fit_bytes("\n".join(head + [self.replies.menu]).strip(), limit)
        article = localize(article, self.local)
        return render_article(article, self.case_url(article.id), limit, head=head,
                              intro="这很可能是：" if urgent else "", with_steps=not urgent)

    def category_overview(self, limit: int | None = None) -> str:
        """'常见骗局': the scam types we cover, one line each, most common first."""
        names = [self.taxonomy[c] for c in self.taxonomy if c not in _NOT_SCAM_TYPES]
        text = ("常见的骗局有这些，把您遇到的情况发给我，我帮您判断：\n" +
                "\n".join(f"· {n}" for n in names) +
                "\n\n记住：凡是让你转账、给验证码、下载陌生APP的，先停下来问一问。")
        return fit_bytes(text, limit or self.reply_max_bytes)
