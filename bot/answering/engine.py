"""The answer engine: which scam a resident's message is about, and how sure we are.

Retrieval, not rules: every article contributes documents (its example questions, its title and
keywords, its 套路/识别要点 text), and off-topic examples form the ``none`` class. Documents and
the message become TF-IDF vectors over jieba words plus character bigrams; a category's score
mixes its best-matching document (nearest neighbour) with its centroid (Rocchio), which carries
a message that shares words with the category but with no single example. This is one view;
triage.py mixes it with the character n-gram models (classifier.py, trained here at build time)
and the urgency rules into the decision.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..content.model import Article
from .classifier import NgramViews
from .text import Normalizer, load_user_dictionary, tokenize
from .triage import TriageParams, cjk_chars, decide
from .urgency import Urgency, detect_urgency, money_request

NONE = "none"
BIGRAM_WEIGHT = 0.45     # character bigrams back up words; they should not dominate
FIELD_WEIGHTS = {"example": 1.0, "head": 1.0, "body": 0.6}
MAX_DF_RATIO = 0.25      # terms in more documents than this carry no signal and cost time


@dataclass(frozen=True)
class EngineParams:
    """Retrieval knobs, tuned by cross-validation on the bank (bench/cv_engine.py); the
    decision itself is triage.TriageParams."""
    nn_weight: float = 0.3       # share of the nearest document in a category's score
    urgent_min_score: float = 0.08  # an urgent message needs less evidence to name its type


@dataclass(frozen=True)
class Match:
    category: str
    score: float
    urgent: bool
    case_ids: tuple[str, ...]
    urgency: Urgency
    ranking: tuple[tuple[str, float], ...] = field(default=())
    urgent_kind: str | None = None   # 'in_progress' | 'lost' when urgent


@dataclass
class _Doc:
    article_id: str | None
    category: str
    kind: str
    text: str = ""


class Engine:
    """An immutable index over a set of articles; build a new one when content changes."""

    def __init__(self, articles: list[Article], offtopic: list[str], normalizer: Normalizer,
                 params: EngineParams = EngineParams(), extra_terms: list[str] = (),
                 triage: TriageParams = TriageParams()):
        self.params = params
        self.triage = triage
        self.normalize = normalizer
        self.articles = {a.id: a for a in articles}
        load_user_dictionary([k for a in articles for k in a.keywords] + list(extra_terms))
        docs, bags = self._documents(articles, offtopic)
        self.docs = docs
        self._build(bags)
        self.views = train_views(articles, offtopic, normalizer)
        # Category order of the n-gram model -> the engine's category order.
        self._view_order = np.asarray([self.views.category.classes.index(c)
                                       if c in self.views.category.classes else -1
                                       for c in self.categories])
        self._cached_match = lru_cache(maxsize=4096)(self._normalize_and_match)

    # -- building -------------------------------------------------------------------------
    def _documents(self, articles, offtopic):
        docs, bags = [], []

        def add(article_id, category, kind, text):
            tokens = tokenize(self.normalize(text))
            if tokens:
                docs.append(_Doc(article_id, category, kind, text if kind == "example" else ""))
                bags.append((Counter(tokens), FIELD_WEIGHTS[kind]))

        for a in articles:
            add(a.id, a.category, "head", " ".join([a.title, a.summary, *a.keywords]))
            for ex in a.examples:
                add(a.id, a.category, "example", ex)
            for ex, _ in a.urgent_examples:
                add(a.id, a.category, "example", ex)
            add(a.id, a.category, "body", a.section_text("套路") + "\n" + a.section_text("识别要点"))
        for q in offtopic:
            add(None, NONE, "example", q)
        # Group documents by category so a category's best document is one reduceat away.
        order = sorted(range(len(docs)), key=lambda i: docs[i].category)
        return [docs[i] for i in order], [bags[i] for i in order]

    def _build(self, bags) -> None:
        n = len(bags)
        df = Counter(t for bag, _ in bags for t in bag)
        max_df = max(3, int(MAX_DF_RATIO * n))
        self.idf = {t: math.log((1 + n) / (1 + d)) + 1.0 for t, d in df.items() if d <= max_df}
        postings: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
        self.categories = sorted({d.category for d in self.docs})
        cat_index = {c: i for i, c in enumerate(self.categories)}
        centroid = [defaultdict(float) for _ in self.categories]
        for i, (bag, weight) in enumerate(bags):
            vec = self._weigh(bag)
            for t, w in vec.items():
                postings[t][0].append(i)
                postings[t][1].append(w)
                centroid[cat_index[self.docs[i].category]][t] += w * weight
        self.postings = {t: (np.asarray(ids, dtype=np.int32), np.asarray(ws, dtype=np.float32))
                         for t, (ids, ws) in postings.items()}
        self.doc_weight = np.asarray([w for _, w in bags], dtype=np.float32)
        doc_cat = np.asarray([cat_index[d.category] for d in self.docs], dtype=np.int32)
        self.cat_starts = np.searchsorted(doc_cat, np.arange(len(self.categories)))
        # Centroids as postings too: term -> (category ids, weights), unit length per category.
        norms = [math.sqrt(sum(w * w for w in c.values())) or 1.0 for c in centroid]
        cpost: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
        for ci, c in enumerate(centroid):
            for t, w in c.items():
                cpost[t][0].append(ci)
                cpost[t][1].append(w / norms[ci])
        self.centroid_postings = {t: (np.asarray(a, dtype=np.int32), np.asarray(b, dtype=np.float32))
                                  for t, (a, b) in cpost.items()}

    def _weigh(self, bag: Counter) -> dict[str, float]:
        """Sublinear TF-IDF, bigrams down-weighted, unit length."""
        vec = {}
        for t, tf in bag.items():
            idf = self.idf.get(t)
            if idf is None:
                continue
            w = (1.0 + math.log(tf)) * idf
            vec[t] = w * BIGRAM_WEIGHT if t.startswith("~") else w
        norm = math.sqrt(sum(w * w for w in vec.values())) or 1.0
        return {t: w / norm for t, w in vec.items()}

    # -- matching -------------------------------------------------------------------------
    def match(self, text: str) -> Match:
        """Classify a message. Cached: residents ask the same things again and again."""
        return self._cached_match(text)

    def _normalize_and_match(self, text: str) -> Match:
        return self._match_uncached(self.normalize(text)[:2000])

    def _match_uncached(self, normalized: str) -> Match:
        views = self.views_of(normalized)
        v = views["verdict"]
        if v.urgent:
            typed = v.scam_type not in (NONE, "emergency") and \
                views["retrieval"].max(initial=0.0) >= self.params.urgent_min_score
            cases = self._best_cases(views["doc_scores"], v.scam_type if typed else "emergency")
        elif v.category == NONE:
            cases = ()
        else:
            cases = self._best_cases(views["doc_scores"], v.category)
        return Match(v.category, v.probability, v.urgent, cases, v.urgency, v.ranking,
                     v.urgent_kind)

    def views_of(self, normalized: str) -> dict:
        """Every view of a normalised message and the verdict combining them (for match and
        for ``ask --explain``)."""
        urgency = detect_urgency(normalized)
        retrieval, doc_scores = self._retrieval(normalized)
        p_model, p_urgency = self.views.judge(normalized)
        model = np.where(self._view_order >= 0, p_model[self._view_order], 0.0)
        urgent_probs = dict(zip(self.views.urgency.classes, (float(p) for p in p_urgency)))
        verdict = decide(self.categories, retrieval, model, urgency, urgent_probs,
                         money_request(normalized), self.triage, cjk_chars(normalized))
        return {"retrieval": retrieval, "model": model, "doc_scores": doc_scores,
                "urgent_probs": urgent_probs, "verdict": verdict}

    def _retrieval(self, normalized: str):
        """Per-category retrieval scores (nearest document mixed with the centroid) and the
        per-document scores (None for an empty query)."""
        query = self._weigh(Counter(tokenize(normalized)))
        n_cat = len(self.categories)
        if not query:
            return np.zeros(n_cat, dtype=np.float32), None
        doc_scores = np.zeros(len(self.docs), dtype=np.float32)
        cat_scores = np.zeros(n_cat, dtype=np.float32)
        for t, qw in query.items():
            ids, ws = self.postings[t]
            doc_scores[ids] += ws * qw
            cids, cws = self.centroid_postings.get(t, (None, None))
            if cids is not None:
                cat_scores[cids] += cws * qw
        doc_scores *= self.doc_weight
        best_doc = np.maximum.reduceat(doc_scores, self.cat_starts)
        p = self.params
        return p.nn_weight * best_doc + (1 - p.nn_weight) * cat_scores, doc_scores

    def _best_cases(self, doc_scores, category: str, limit: int = 3) -> tuple[str, ...]:
        """Articles of the category, best-matching first (all of them if nothing matched)."""
        ids: list[str] = []
        if doc_scores is not None:
            top = np.argpartition(-doc_scores, min(64, len(doc_scores) - 1))[:64]
            for i in top[np.argsort(-doc_scores[top])]:
                d = self.docs[i]
                if doc_scores[i] <= 0:
                    break
                if d.category == category and d.article_id not in ids:
                    ids.append(d.article_id)
                    if len(ids) == limit:
                        break
        for a in self.articles.values():
            if len(ids) >= limit:
                break
            if a.category == category and a.id not in ids:
                ids.append(a.id)
        return tuple(ids)


def train_views(articles: list[Article], offtopic: list[str], normalize: Normalizer) -> NgramViews:
    """The n-gram models from the bank's labelled lines: every example and urgent line of an
    article is its category (off-topic lines are ``none``); every plain example and off-topic
    line is not urgent, every urgent line is its kind."""
    lines: list[tuple[str, str, str]] = []   # (text, category, urgency)
    for a in articles:
        lines += [(ex, a.category, "no") for ex in a.examples]
        lines += [(ex, a.category, kind) for ex, kind in a.urgent_examples]
    lines += [(q, NONE, "no") for q in offtopic]
    return NgramViews.train([normalize(t) for t, _, _ in lines], [c for _, c, _ in lines],
                            [u for _, _, u in lines])


def read_lines(path: Path) -> list[str]:
    """Non-empty lines of a text file, without '#' comment lines; [] if it does not exist."""
    if not path.exists():
        return []
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


def load_offtopic(engine_dir: Path) -> list[str]:
    """Off-topic example questions forming the 'none' class: every ``offtopic*.txt`` file of
    content/engine/ (everyday chat, and near-domain procedures that share words with scams)."""
    return [ln for path in sorted(Path(engine_dir).glob("offtopic*.txt")) for ln in read_lines(path)]


def load_terms(path: Path) -> list[str]:
    """Extra scam terms for the segmenter, one per line."""
    return read_lines(path)
