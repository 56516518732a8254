"""An article as chat text within a byte budget: the shared presentation of the answer engine's
replies and the pushed 本周预警 alerts (WeChat passive replies and WeCom texts have byte limits).
"""
from __future__ import annotations

from .model import Article


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def fit_bytes(text: str, limit: int) -> str:
    """Cut text to at most ``limit`` UTF-8 bytes on a character boundary, marking the cut."""
    if utf8_len(text) <= limit:
        return text
    cut = text.encode("utf-8")[: max(0, limit - 3)].decode("utf-8", "ignore")
    return cut + "…"


def render_article(article: Article, url: str, limit: int, head: list[str] = (),
                   intro: str = "", with_steps: bool = True) -> str:
    """An article as chat text ending with a link to its full page; bullets are dropped from
    the end until the text fits ``limit`` UTF-8 bytes."""
    flags = article.bullets("识别要点")
    steps = article.bullets("怎么办") if with_steps else []
    while True:
        lines = list(head) + [f"{intro}【{article.title}】", article.summary]
        if flags:
            lines += ["", "识别要点："] + [f"· {b}" for b in flags]
        if steps:
            lines += ["", "怎么办："] + [f"· {b}" for b in steps]
        text = "\n".join(lines + ["", f"全文：{url}"])
        if utf8_len(text) <= limit or (not flags and not steps):
            return fit_bytes(text, limit)
        if steps and len(steps) >= len(flags):
            steps = steps[:-1]
        else:
            flags = flags[:-1]
