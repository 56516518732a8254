"""From a resident's message to the answer JSON and reply text, within WeChat's byte budget.

``AnswerService`` owns the engine built from the *published* articles in the database and
rebuilds it when an admin publishes something (the shared ``content_version`` moves), so every
server worker answers from the new content without a restart.
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlite_utils import Database

from .content import (Article, _Problems, check_safe_text, load_content, load_taxonomy, localize,
                      parse_article)
from .db import content_version
from .engine import NONE, Engine, EngineParams, Match, load_offtopic, load_terms
from .errors import ContentError
from .text import Normalizer

log = logging.getLogger(__name__)

_ENGINES: dict[str, Engine] = {}   # content digest -> engine, shared within a process


@dataclass(frozen=True)
class Replies:
    """The bot's fixed texts (content/replies.toml)."""
    emergency_steps: str
    menu: str
    welcome: str
    media: str
    menu_keys: dict
    menu_articles: dict

    @classmethod
    def load(cls, content_dir: Path) -> "Replies":
        path = content_dir / "replies.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ContentError([f"{path}:1: {exc}"]) from None
        problems = _Problems()
        for key in ("emergency_steps", "menu", "welcome", "media", "menu_keys", "menu_articles"):
            if not data.get(key):
                problems.add(str(path), 1, f"missing '{key}'")
        check_safe_text(path.read_text(encoding="utf-8"), str(path), 1, problems)
        for key, case_id in (data.get("menu_articles") or {}).items():
            if key not in (data.get("menu_keys") or {}):
                problems.add(str(path), 1, f"menu_articles.{key}: not a key of [menu_keys]")
            elif not (content_dir / "cases" / f"{case_id}.md").exists():
                problems.add(str(path), 1, f"menu_articles.{key}: no article '{case_id}'")
        if problems.items:
            raise ContentError(problems.items)
        return cls(**{k: (v.strip() if isinstance(v, str) else v) for k, v in data.items()
                      if k in cls.__dataclass_fields__})


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


class AnswerService:
    """Answers questions from the current published content; safe to share between threads."""

    def __init__(self, db_factory, content_dir: Path, public_url: str, reply_max_bytes: int,
                 params: EngineParams = EngineParams(), local: dict | None = None):
        self._db_factory = db_factory
        self.local = dict(local or {})   # [local] config: fills {本地…} placeholders
        self.content_dir = Path(content_dir)
        self.public_url = public_url.rstrip("/")
        self.reply_max_bytes = reply_max_bytes
        self.params = params
        self.replies = Replies.load(self.content_dir)
        self.taxonomy = load_taxonomy(self.content_dir)
        self.normalizer = Normalizer.from_file(self.content_dir / "engine" / "normalize.tsv")
        self._offtopic = load_offtopic(self.content_dir / "engine" / "offtopic.txt")
        self._terms = load_terms(self.content_dir / "engine" / "terms.txt")
        self._lock = threading.Lock()
        self._version = None
        self.engine: Engine | None = None
        self.refresh(force=True)

    # -- content --------------------------------------------------------------------------
    def _published_articles(self) -> list[Article]:
        db: Database | None = self._db_factory() if self._db_factory else None
        if db is None or not db["cases"].exists():
            return load_content(self.content_dir).articles
        problems = _Problems()
        articles = []
        for row in db.execute("SELECT id, source FROM cases WHERE status = 'published' "
                              "ORDER BY id").fetchall():
            a = parse_article(row[1], f"cases/{row[0]}", self.taxonomy, problems,
                              Path(f"{row[0]}.md"))
            if a:
                articles.append(a)
        for p in problems.items:  # validated on save; a bad row is skipped, never fatal
            log.error("skipping invalid published case: %s", p)
        return articles

    def _content_version(self) -> int:
        """The shared counter every publish bumps: one indexed read, cheap enough for every
        question, so the next question after a publish is answered from it in every worker."""
        if self._db_factory is None:
            return -1
        try:
            return content_version(self._db_factory())
        except sqlite3.OperationalError:   # a database without tables yet: content/ it is
            return -1

    def refresh(self, force: bool = False) -> None:
        """Rebuild the engine if published content changed since we last looked."""
        version = self._content_version()
        if not force and version == self._version:
            return
        with self._lock:
            if not force and version == self._version:
                return
            started = time.perf_counter()
            articles = self._published_articles()
            self.engine = self._engine_for(articles)
            # Reply texts depend only on (article, urgent): compose each once per engine.
            self._answer_for = lru_cache(maxsize=4096)(self._answer_for_uncached)
            self._version = version
            log.info("answer engine built: %d articles in %.0f ms (content version %s)",
                     len(articles), (time.perf_counter() - started) * 1000, version)

    def _engine_for(self, articles: list[Article]) -> Engine:
        """Engines are immutable and deterministic: apps in one process with the same published
        content (tests, a second app on one database) share one instead of rebuilding."""
        key = hashlib.sha1(repr((
            [(a.id, a.category, a.title, a.summary, a.examples, a.keywords,
              sorted(a.sections.items())) for a in articles],
            self._offtopic, self._terms, self.params, self.normalizer.pairs,
        )).encode("utf-8")).hexdigest()
        engine = _ENGINES.get(key)
        if engine is None:
            engine = Engine(articles, self._offtopic, self.normalizer, self.params, self._terms)
            if len(_ENGINES) >= 4:
                _ENGINES.pop(next(iter(_ENGINES)))
            _ENGINES[key] = engine
        return engine

    def article(self, case_id: str) -> Article | None:
        """The published article as this deployment shows it (local placeholders filled)."""
        article = self.engine.articles.get(case_id)
        return localize(article, self.local) if article else None

    # -- answering ------------------------------------------------------------------------
    def ask(self, text: str) -> dict:
        """The answer JSON for one message."""
        self.refresh()
        match = self.engine.match(text)
        return self.answer_for(match)

    def answer_for(self, match: Match) -> dict:
        return dict(self._answer_for(match))

    def _answer_for_uncached(self, match: Match) -> dict:
        article = self.article(match.case_ids[0]) if match.case_ids else None
        if match.category == NONE and not match.urgent:
            title, answer = "反诈助手", self.replies.menu
        else:
            title = article.title if article else "已被骗求助"
            answer = self.compose(article, urgent=match.urgent)
        return {"category": match.category, "urgent": match.urgent, "title": title,
                "answer": answer, "case_ids": list(match.case_ids), "score": match.score}

    def case_url(self, case_id: str) -> str:
        return f"{self.public_url}/cases/{case_id}"

    def compose(self, article: Article | None, urgent: bool = False,
                limit: int | None = None) -> str:
        """Reply text: emergency steps first when urgent, then the article's essentials."""
        limit = limit or self.reply_max_bytes
        head = [self.replies.emergency_steps, ""] if urgent else []
        if article is None:
            return fit_bytes("\n".join(head + [self.replies.menu]).strip(), limit)
        article = localize(article, self.local)
        return render_article(article, self.case_url(article.id), limit, head=head,
                              intro="这很可能是：" if urgent else "", with_steps=not urgent)

    def category_overview(self, limit: int | None = None) -> str:
        """'常见骗局': the scam types we cover, one line each, most common first."""
        names = [self.taxonomy[c] for c in self.taxonomy
                 if c not in (NONE, "general", "emergency", "report", "official_channels")]
        text = ("常见的骗局有这些，把您遇到的情况发给我，我帮您判断：\n" +
                "\n".join(f"· {n}" for n in names) +
                "\n\n记住：凡是让你转账、给验证码、下载陌生APP的，先停下来问一问。")
        return fit_bytes(text, limit or self.reply_max_bytes)
