"""The answer engine's lifecycle: built from the *published* articles, rebuilt when an admin
publishes something (the shared ``content_version`` moves), so every server worker answers from
the new content without a restart.

Storage stays outside this package: the service is given a ``feed`` with ``version()`` and
``library()`` (``bot.storage.library.PublishedContent``), or none, and then answers from the
files in content/.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Protocol

from ..content.model import Article, Library, load_content, load_taxonomy
from ..content.replies import Replies
from .compose import ReplyComposer
from .engine import Engine, EngineParams, Match, load_offtopic, load_terms
from .text import Normalizer

log = logging.getLogger(__name__)

_ENGINES: dict[str, Engine] = {}   # content digest -> engine, shared within a process


class ContentFeed(Protocol):
    def version(self) -> int: ...
    def library(self) -> Library: ...


class AnswerService:
    """Answers questions from the current published content; safe to share between threads."""

    def __init__(self, feed: ContentFeed | None, content_dir: Path, public_url: str,
                 reply_max_bytes: int, params: EngineParams = EngineParams()):
        self._feed = feed
        self.content_dir = Path(content_dir)
        self.public_url = public_url
        self.reply_max_bytes = reply_max_bytes
        self.params = params
        self.replies = Replies.load(self.content_dir)
        self.taxonomy = load_taxonomy(self.content_dir)
        self.normalizer = Normalizer.from_file(self.content_dir / "engine" / "normalize.tsv")
        self._offtopic = load_offtopic(self.content_dir / "engine")
        self._terms = load_terms(self.content_dir / "engine" / "terms.txt")
        self._lock = threading.Lock()
        self._version = None
        self.engine: Engine | None = None
        self.composer: ReplyComposer | None = None
        self.refresh(force=True)

    # -- content --------------------------------------------------------------------------
    def _published_articles(self) -> list[Article]:
        if self._feed is None:
            return load_content(self.content_dir).articles
        return list(self._feed.library().articles.values())

    def _content_version(self) -> int:
        """The shared counter every publish bumps: one indexed read, cheap enough for every
        question, so the next question after a publish is answered from it in every worker."""
        return -1 if self._feed is None else self._feed.version()

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
            self.composer = ReplyComposer(self.engine.articles, self.replies, self.taxonomy,
                                          self.public_url, self.reply_max_bytes)
            self._version = version
            log.info("answer engine built: %d articles in %.0f ms (content version %s)",
                     len(articles), (time.perf_counter() - started) * 1000, version)

    def _engine_for(self, articles: list[Article]) -> Engine:
        """Engines are immutable and deterministic: apps in one process with the same published
        content (tests, a second app on one database) share one instead of rebuilding."""
        key = hashlib.sha1(repr((
            [(a.id, a.category, a.title, a.summary, a.examples, a.urgent_examples, a.keywords,
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
        return self.engine.articles.get(case_id)

    # -- answering ------------------------------------------------------------------------
    def ask(self, text: str) -> dict:
        """The answer JSON for one message."""
        self.refresh()
        return self.answer_for(self.engine.match(text))

    def answer_for(self, match: Match) -> dict:
        return dict(self.composer.answer_for(match))

    def case_url(self, case_id: str) -> str:
        return self.composer.case_url(case_id)

    def compose(self, article: Article | None, urgent: bool = False,
                limit: int | None = None, urgent_kind: str | None = None) -> str:
        return self.composer.compose(article, urgent, limit, urgent_kind)

    def category_overview(self, limit: int | None = None) -> str:
        return self.composer.category_overview(limit)
