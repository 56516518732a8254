"""Choosing the weekly tip for a group and rendering pushes (tips and 本周预警 alerts).

Pure functions of the tips, the group, the group's push history and the slot time, so the
scheduler, the dry run and the tests all choose the same way.
"""
from __future__ import annotations

from datetime import date, datetime

from ..content.model import Article, Tip
from ..content.render import render_article
from .channels import Message

# Month-day windows in which a seasonal tip is preferred. 春节 moves with the lunar calendar;
# the window covers the weeks around it in every year.
SEASON_WINDOWS = {
    "春节": [((1, 10), (2, 28))],
    "开学": [((2, 10), (3, 10)), ((8, 15), (9, 20))],
    "双十一": [((10, 20), (11, 15))],
    "毕业季": [((5, 15), (7, 15))],
    "高考后": [((6, 8), (8, 31))],
    "年终奖": [((12, 1), (12, 31)), ((1, 1), (2, 10))],
}
TEXT_FOOTER = "遇到可疑情况先停一停，拨打110报警，拿不准可打96110咨询。"


def in_season(season: str, day: date) -> bool:
    md = (day.month, day.day)
    return any(start <= md <= end for start, end in SEASON_WINDOWS.get(season, []))


def fits(tip: Tip, audiences) -> bool:
    return bool(set(tip.audiences) & set(audiences)) or "general" in tip.audiences


def tip_rank(tip: Tip, audiences, day: date) -> tuple:
    """Lower is better: in-season first, out-of-season last; the group's own audience before
    general tips; then a stable order so groups with the same audience agree."""
    if tip.seasons:
        season = 0 if any(in_season(s, day) for s in tip.seasons) else 2
    else:
        season = 1
    specific = 0 if set(tip.audiences) & set(audiences) else 1
    return (season, specific, tip.id)


def choose_tip_for(group, slot: datetime, tips: list[Tip], history: dict[str, str]) -> Tip | None:
    """The tip for one group's slot: the best it has not had yet; when its pool is exhausted,
    the one it had longest ago. ``history`` maps tip id -> when this group last got it."""
    pool = [t for t in tips if fits(t, group.audiences)]
    if not pool:
        return None
    day = slot.date()
    fresh = [t for t in pool if t.id not in history]
    if fresh:
        return min(fresh, key=lambda t: tip_rank(t, group.audiences, day))
    return min(pool, key=lambda t: (history[t.id], tip_rank(t, group.audiences, day)))


def render_tip(tip: Tip, alert: bool = False) -> Message:
    label = "【本周预警】" if alert else "【反诈提醒】"
    text = f"{label}{tip.title}\n{tip.body}"
    if "110" not in tip.body:
        text += "\n" + TEXT_FOOTER
    markdown = f"### {label}{tip.title}\n{tip.body}\n> {TEXT_FOOTER}"
    return Message(title=tip.title, text=text, markdown=markdown)


def render_case_alert(article: Article, public_url: str) -> Message:
    url = f"{public_url.rstrip('/')}/cases/{article.id}"
    text = render_article(article, url, 2000, intro="【本周预警】", with_steps=True)
    flags = "\n".join(f"- {b}" for b in article.bullets("识别要点"))
    markdown = (f"### 【本周预警】{article.title}\n{article.summary}\n\n**识别要点**\n{flags}\n\n"
                f"[看全文]({url})")
    while len(markdown.encode()) > 4000:
        markdown = markdown[:-50]
    return Message(title=article.title, text=text, markdown=markdown)
