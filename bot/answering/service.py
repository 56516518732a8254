"""The answer engine's lifecycle: an index of the *published* articles, built once per content
version outside the request workers, and swapped in by every worker when it is ready.

Who builds: ``python -m bot build-index`` (run by ``init-db``, so by ``make run``), the CLI
commands that publish, the scheduler at its tick, and a background thread of the web worker
whose admin published (or that first sees the new ``content_version``). The index goes to the
``IndexStore`` beside the database, written atomically; builders take its lock, so the others
wait and find it built. Workers check the shared ``content_version`` before answering (one
indexed read, at most every 50 ms) and keep answering from the index they have until the new one is built, then
map it (``Engine.load``) in a background thread and swap. Only at start-up, when no index of
the current version exists yet, does a process build one synchronously before answering.

Storage stays outside this package: the service is given a ``feed`` with ``version()`` and
``library()`` (``bot.storage.library.PublishedContent``), or none, and then answers from the
files in content/ with an index kept in memory.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..content.model import Article, Library, load_content, load_taxonomy, localize
from ..content.replies import Replies
from .compose import ReplyComposer
from .engine import Engine, EngineParams, Match, index_schema, load_offtopic, load_terms
from .index import IndexStore, Pointer
from .text import Normalizer

log = logging.getLogger(__name__)

VERSION_CHECK_SECONDS = 0.05   # how stale a worker's idea of the content version may be
_ENGINES: dict[str, Engine] = {}   # content digest -> engine, shared within a process
_ENGINES_LOCK = threading.Lock()


class ContentFeed(Protocol):
    def version(self) -> int: ...
    def library(self) -> Library: ...


def _cached(digest: str) -> Engine | None:
    """The engine of this digest if this process has it (most recently used kept last)."""
    with _ENGINES_LOCK:
        engine = _ENGINES.pop(digest, None)
        if engine is not None:
            _ENGINES[digest] = engine
        return engine


def _remember(digest: str, engine: Engine) -> Engine:
    with _ENGINES_LOCK:
        if digest not in _ENGINES and len(_ENGINES) >= 2:   # the live one and the next
            _ENGINES.pop(next(iter(_ENGINES)))
        return _ENGINES.setdefault(digest, engine)


class IndexBuilder:
    """Builds the index of the published content into the store; no web stack needed, so the
    CLI and the scheduler use it as they are."""

    def __init__(self, feed: ContentFeed | None, content_dir: Path, store: IndexStore | None,
                 params: EngineParams = EngineParams()):
        self.feed = feed
        self.content_dir = Path(content_dir)
        self.store = store
        self.params = params
        self.normalizer = Normalizer.from_file(self.content_dir / "engine" / "normalize.tsv")
        self.offtopic = load_offtopic(self.content_dir / "engine")
        self.terms = load_terms(self.content_dir / "engine" / "terms.txt")

    def content_version(self) -> int:
        """The shared counter every publish bumps: one indexed read, cheap enough for every
        question."""
        return -1 if self.feed is None else self.feed.version()

    def published_articles(self) -> list[Article]:
        if self.feed is None:
            return load_content(self.content_dir).articles
        return list(self.feed.library().articles.values())

    def digest(self, articles: list[Article]) -> str:
        """Everything an index depends on: same digest, same index, same answers."""
        return hashlib.sha256(repr((
            index_schema(), articles, self.offtopic, self.terms, self.params,
            self.normalizer.pairs,
        )).encode("utf-8")).hexdigest()[:32]

    def engine_for(self, articles: list[Article]) -> tuple[str, Engine]:
        """The engine of these articles: from this process's cache, else built (in memory)."""
        digest = self.digest(articles)
        engine = _cached(digest)
        if engine is None:
            engine = _remember(digest, self._build(articles))
        return digest, engine

    def _build(self, articles: list[Article], out_dir: Path | None = None) -> Engine:
        started = time.perf_counter()
        engine = Engine(articles, self.offtopic, self.normalizer, self.params, self.terms,
                        out_dir=out_dir)
        log.info("answer index built: %d articles, %d documents, %d terms in %.0f ms",
                 len(articles), engine.n_docs, engine.n_terms,
                 (time.perf_counter() - started) * 1000)
        return engine

    def build(self) -> Pointer:
        """Bring the store's index up to the current content version: build and write it if
        it is not there yet, then point at it. Safe to call from several processes at once."""
        if self.store is None:
            raise ValueError("no index store configured")
        with self.store.build_lock():
            version = self.content_version()
            pointer = self.store.current()
            if pointer is not None and pointer.content_version == version:
                return pointer
            # Read after the version: the content is at least as new as its label.
            articles = self.published_articles()
            digest = self.digest(articles)
            if not self.store.has(digest):   # same content indexed before: point at it again
                engine = _cached(digest)
                if engine is None:   # built straight into the store's new directory
                    engine = self.store.write(
                        digest, lambda tmp: self._build(articles, out_dir=tmp))
                    _remember(digest, engine)
                else:
                    self.store.write(digest, engine)
            self.store.point(version, digest)
            log.info("answer index %s is current for content version %s", digest, version)
            return Pointer(version, digest, index_schema())


@dataclass(frozen=True)
class _Live:
    """What a worker answers from; replaced as a whole, so a request sees one consistent set."""
    version: int
    digest: str
    engine: Engine
    composer: ReplyComposer


class AnswerService:
    """Answers questions from the current published content; safe to share between threads."""

    # How long a case page waits for the background build of a case published a moment ago.
    article_wait_seconds = 10.0

    def __init__(self, feed: ContentFeed | None, content_dir: Path, public_url: str,
                 reply_max_bytes: int, params: EngineParams = EngineParams(),
                 index_dir: Path | None = None, local: dict | None = None,
                 version_check_seconds: float = VERSION_CHECK_SECONDS):
        self.local = dict(local or {})   # [local] config: fills {本地…} placeholders
        self.content_dir = Path(content_dir)
        self.public_url = public_url
        self.reply_max_bytes = reply_max_bytes
        self.params = params
        self.replies = Replies.load(self.content_dir)
        self.taxonomy = load_taxonomy(self.content_dir)
        self.builder = IndexBuilder(feed, self.content_dir,
                                    IndexStore(index_dir) if index_dir else None, params)
        self.normalizer = self.builder.normalizer
        self._live: _Live | None = None
        self.version_check_seconds = version_check_seconds
        self._version_checked_at = float("-inf")   # time.monotonic() of the last check
        self._catch_up_lock = threading.Lock()
        self._thread_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.refresh(force=True)

    @property
    def engine(self) -> Engine:
        return self._live.engine

    @property
    def composer(self) -> ReplyComposer:
        return self._live.composer

    @property
    def content_version(self) -> int:
        """The content version the answers come from now."""
        return self._live.version

    # -- content --------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Before every answer: if published content moved on, have the new index built and
        loaded in the background while answering from the current one. Never builds in the
        caller's thread, except with ``force`` (start-up, CLI, tests), which brings the
        service up to date before it returns. The shared version is read at most every
        ``version_check_seconds`` (a worker answering hundreds of messages a second need not
        read it for each; a build takes seconds anyway)."""
        live = self._live
        if force or live is None:
            self._catch_up()
            return
        now = time.monotonic()
        if now - self._version_checked_at < self.version_check_seconds:
            return
        self._version_checked_at = now
        if self.builder.content_version() != live.version:
            self.request_build()

    def request_build(self) -> None:
        """Start catching up in a background thread (one at a time); returns at once."""
        with self._thread_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._catch_up_in_background,
                                            name="answer-index", daemon=True)
            self._thread.start()

    def wait_until_current(self, timeout: float = 60.0) -> bool:
        """Wait for the background catch-up until the answers reflect the current content
        version (tests, and an admin page that wants to show the result)."""
        deadline = time.monotonic() + timeout
        while self.builder.content_version() != self._live.version:
            self.request_build()
            thread = self._thread
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if thread is not None:
                thread.join(remaining)
        return True

    def _catch_up_in_background(self) -> None:
        try:
            self._catch_up()
        except Exception:  # noqa: BLE001 - keep answering from the index we have
            log.exception("could not bring the answer index up to date; answering from "
                          "content version %s", self._live and self._live.version)

    def _catch_up(self) -> None:
        """Build (if nobody has) and load the index of the current content version."""
        with self._catch_up_lock:
            store = self.builder.store
            if store is None:
                version = self.builder.content_version()
                if self._live is not None and self._live.version == version:
                    return
                digest, engine = self.builder.engine_for(self.builder.published_articles())
                self._install(version, digest, engine)
                return
            try:
                pointer = store.current()
                if pointer is None or pointer.content_version != self.builder.content_version():
                    pointer = self.builder.build()
            except OSError:
                # A full or read-only disk must not leave residents without answers.
                log.exception("could not write the answer index to %s; building it in memory",
                              store.root)
                version = self.builder.content_version()
                digest, engine = self.builder.engine_for(self.builder.published_articles())
                self._install(version, digest, engine)
                return
            live = self._live
            if live is not None and live.digest == pointer.digest:
                engine = live.engine
            else:
                engine = _cached(pointer.digest)
                if engine is None:
                    started = time.perf_counter()
                    engine = _remember(pointer.digest,
                                       store.load(pointer.digest, self.normalizer))
                    log.info("answer index %s loaded in %.0f ms", pointer.digest,
                             (time.perf_counter() - started) * 1000)
            self._install(pointer.content_version, pointer.digest, engine)

    def _install(self, version: int, digest: str, engine: Engine) -> None:
        live = self._live
        composer = live.composer if live is not None and live.digest == digest else \
            ReplyComposer(engine.articles, self.replies, self.taxonomy, self.public_url,
                          self.reply_max_bytes, self.local)
        self._live = _Live(version, digest, engine, composer)

    def article(self, case_id: str) -> Article | None:
        """A published article as this deployment shows it (local placeholders filled). One not
        in the index we answer from may have been published a moment ago: then wait (bounded)
        for the index being built in the background."""
        found = self.engine.articles.get(case_id)
        if found is None and self.builder.content_version() != self._live.version:
            self.wait_until_current(timeout=self.article_wait_seconds)
            found = self.engine.articles.get(case_id)
        return localize(found, self.local) if found else None

    # -- answering ------------------------------------------------------------------------
    def ask(self, text: str) -> dict:
        """The answer JSON for one message."""
        self.refresh()
        live = self._live
        return live.composer.answer_for(live.engine.match(text))

    def answer_for(self, match: Match) -> dict:
        return self.composer.answer_for(match)

    def case_url(self, case_id: str) -> str:
        return self.composer.case_url(case_id)

    def compose(self, article: Article | None, urgent: bool = False,
                limit: int | None = None, urgent_kind: str | None = None) -> str:
        return self.composer.compose(article, urgent, limit, urgent_kind)

    def category_overview(self, limit: int | None = None) -> str:
        return self.composer.category_overview(limit)
