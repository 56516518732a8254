"""The answer engine: which scam a resident's message is about, and how sure we are.

Retrieval, not rules: every article contributes documents (its example questions, its title and
keywords, its 套路/识别要点 text), and off-topic examples form the ``none`` class. Documents and
the message become TF-IDF vectors over jieba words plus character bigrams; a category's score
mixes its best-matching document (nearest neighbour) with its centroid (Rocchio), which carries
a message that shares words with the category but with no single example. This is one view;
triage.py mixes it with the character n-gram models (classifier.py, trained here at build time)
and the urgency rules into the decision.

The index is a handful of flat numpy arrays (a sorted vocabulary, postings and centroids in CSR
form), built in one vectorised pass and saved to a directory (``save``) that a worker maps into
memory (``Engine.load``) instead of rebuilding. Every array in ``Engine.arrays`` is saved and
listed in the manifest; the n-gram models ride along as ``ngram_*`` arrays, so a worker that
loads an index answers with numpy alone (scikit-learn is imported only by a build).
"""
from __future__ import annotations

import gc
import hashlib
import json
import math
import os
import pickle
import select
import subprocess
import sys
import tempfile
import threading
from array import array
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..content.model import Article
from .classifier import NgramFeatures, NgramViews
from .bulk import kept_words, kept_words_many, lexicon_of, words_many
from .scope import KNOWN_LINE_SCORE, ScopeView
from .scope import training_rows as scope_training_rows
from .text import _CJK_RUN_RE, Normalizer, Segmenter, mask_for_matching, mask_many, tokenize, \
    words_and_tokens
from .triage import EMERGENCY, TriageParams, cjk_chars, decide
from .urgency import Urgency, detect_urgency, money_request, prepare_gates

NONE = "none"
TERM_ID_CACHE = 1 << 14  # query terms whose vocabulary id an engine remembers (~2 MB at most)
BIGRAM_WEIGHT = 0.45     # character bigrams back up words; they should not dominate
FIELD_WEIGHTS = {"example": 1.0, "head": 1.0, "body": 0.6}
MAX_DF_RATIO = 0.25      # terms in more documents than this carry no signal and cost time
MAX_TERM_CHARS = 24      # longer tokens (pasted junk) are not indexed
# Bump when the arrays or their meaning change; an index of another format is rebuilt.
ENGINE_FORMAT = 8   # 3: n-gram models (ngram_*), urgent examples, document kinds; 4: n-gram keys;
#                     5: the scope view (ngram_scope_*); 6: its word features
#                     (ngram_scope_word_*); 7: official numbers keep their digits;
#                     8: the words of the cases (ngram_scope_case_words)


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


def index_schema() -> str:
    """What a saved index must match to be loaded by this code: the engine format and the
    Article fields pickled with it."""
    return f"{ENGINE_FORMAT}:" + ",".join(f.name for f in fields(Article))


@dataclass(frozen=True)
class Document:
    """One indexed document, as ``ask --explain`` shows it."""
    article_id: str | None
    category: str
    kind: str    # 'head' | 'example' | 'body'
    text: str


class Engine:
    """An immutable index over a set of articles; build a new one when content changes."""

    def __init__(self, articles: list[Article], offtopic: list[str], normalizer: Normalizer,
                 params: EngineParams = EngineParams(), extra_terms: list[str] = (),
                 processes: int | None = None, triage: TriageParams = TriageParams(),
                 out_dir: Path | None = None):
        """``out_dir``: an empty directory to build the index into (``IndexStore.write``):
        each array is written there as soon as it is finished and mapped when the build is
        done, so the finished index never sits in this process's memory beside the build's
        temporaries; ``save(out_dir)`` then adds the rest."""
        self.params = params
        self.triage = triage
        self.normalize = normalizer
        self.articles = {a.id: a for a in articles}
        self.segmenter = Segmenter([k for a in articles for k in a.keywords] + list(extra_terms))
        self._directory = Path(out_dir) if out_dir is not None else None
        self.arrays, self.meta = _build_arrays(articles, offtopic, normalizer, self.segmenter,
                                               processes, self._directory)
        self._attach()

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the index into an empty directory (the caller renames it into place)."""
        path = Path(path)
        built_here = self._directory is not None and path.resolve() == self._directory.resolve()
        for name, array in self.arrays.items():
            if built_here:   # written by the build (and mapped from that file)
                continue
            np.save(path / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        with open(path / "articles.pickle", "wb") as f:
            pickle.dump(list(self.articles.values()), f, protocol=pickle.HIGHEST_PROTOCOL)
        manifest = {"schema": index_schema(), "params": asdict(self.params), "meta": self.meta,
                    "user_words": list(self.segmenter.words), "arrays": sorted(self.arrays)}
        (path / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1),
                                            encoding="utf-8")

    @classmethod
    def load(cls, path: Path, normalizer: Normalizer) -> "Engine":
        """Map a saved index into memory: the arrays stay in the page cache, shared by every
        worker; only the articles and the segmenter's dictionary are built here."""
        path = Path(path)
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("schema") != index_schema():
            raise ValueError(f"index {path} has schema {manifest.get('schema')!r}")
        engine = cls.__new__(cls)
        engine._directory = None
        engine.params = EngineParams(**manifest["params"])
        engine.triage = TriageParams()   # the decision is code, not part of the index
        engine.normalize = normalizer
        with open(path / "articles.pickle", "rb") as f:
            engine.articles = {a.id: a for a in pickle.load(f)}
        engine.segmenter = Segmenter(manifest["user_words"])
        engine.meta = manifest["meta"]
        engine.arrays = {name: _mapped(path, name) for name in manifest["arrays"]}
        engine._attach()
        return engine

    def _attach(self) -> None:
        a = self.arrays
        self.categories = list(self.meta["categories"])
        self._article_ids = list(self.meta["article_ids"])
        self.vocab = a["vocab"]
        self.n_terms = len(self.vocab)
        self.n_docs = len(a["doc_weight"])
        self._width = self.vocab.dtype.itemsize // 4 if self.n_terms else 0
        self._by_category: dict[str, list[str]] = {}
        self._not_for_kind: dict[str, str] = {}   # article id -> the urgent kind it is not for
        self._of_kind: dict[str, np.ndarray] = {}   # (_emergency_documents_of)
        for art in self.articles.values():
            self._by_category.setdefault(art.category, []).append(art.id)
            kinds = [k for _, k in art.urgent_examples]
            for kind, other in (("in_progress", "lost"), ("lost", "in_progress")):
                if kinds and kinds.count(other) >= OTHER_KIND_SHARE * len(kinds):
                    self._not_for_kind[art.id] = kind
        self.views = NgramViews.from_arrays({k[len(VIEW_PREFIX):]: v for k, v in a.items()
                                             if k.startswith(VIEW_PREFIX)})
        # Category order of the n-gram model -> the engine's category order.
        self._view_order = np.asarray([self.views.category.classes.index(c)
                                       if c in self.views.category.classes else -1
                                       for c in self.categories])
        self.scope = ScopeView.from_arrays(self.views.features,
                                           {k[len(VIEW_PREFIX):]: v for k, v in a.items()
                                            if k.startswith(VIEW_PREFIX + "scope_")},
                                           self.segmenter)
        self._view_known = self._view_order >= 0
        self._view_knows_all = bool(self._view_known.all())   # (then no np.where per message)
        # What names a scam (``names_a_scam``), one set: the segmenter's terms, the masks of a
        # link and a number, the articles' keywords and the words of the cases.
        self._scam_words = frozenset(self.segmenter.words).union(
            ("链接", "电话号码"), (k.strip().lower() for art in self.articles.values()
                                for k in art.keywords), self.scope.case_words.tolist())
        self._cached_match = lru_cache(maxsize=4096)(self._normalize_and_match)
        self._term_ids: dict[str, int] = {}   # (query_vector, _look_up)
        prepare_gates()

    def document(self, i: int) -> Document:
        """The i-th indexed document (for ``ask --explain``), rebuilt from its article."""
        ai, kind, part = (int(self.arrays[k][i]) for k in ("doc_article", "doc_kind", "doc_part"))
        if ai < 0:
            return Document(None, NONE, "example", self.meta["offtopic"][part])
        article = self.articles[self._article_ids[ai]]
        _, text, _ = list(_article_documents(article))[part]
        return Document(article.id, article.category, DOC_KINDS[kind], text)

    # -- matching -------------------------------------------------------------------------
    def match(self, text: str) -> Match:
        """Classify a message. Cached: residents ask the same things again and again."""
        return self._cached_match(text)

    def _normalize_and_match(self, text: str) -> Match:
        return self._match_uncached(self.normalize(text)[:2000])

    def query_vector(self, normalized: str, masked: str | None = None,
                     tokens: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(term ids, weights) of a message: sublinear TF-IDF, bigrams down-weighted, unit
        length; words the index does not know are left out. ``masked``: the message through
        ``mask_for_matching``, and ``tokens`` its ``tokenize``, if the caller has them."""
        if tokens is None:
            tokens = tokenize(normalized, self.segmenter, masked)
        counts = Counter(tokens)
        ids = list(map(self._term_ids.get, counts))   # None: not remembered
        if None in ids:
            ids = self._look_up(list(counts), ids)
        found = [(i, n) for i, n in zip(ids, counts.values()) if i >= 0]
        if not found:
            return np.zeros(0, np.int64), np.zeros(0)
        tids = np.asarray([i for i, _ in found], dtype=np.int64)
        tf = np.asarray([n for _, n in found], dtype=np.float64)
        w = (1.0 + np.log(tf)) * self.arrays["term_scale"][tids]
        norm = math.sqrt(float(w @ w)) or 1.0
        return tids, w / norm

    def _look_up(self, terms: list[str], ids: list[int | None]) -> list[int]:
        """The vocabulary ids of terms (-1: not indexed), given those remembered (None: not):
        the others found by one binary search in the sorted vocabulary, and remembered in
        ``_term_ids`` (words and bigrams recur in every message): the first ``TERM_ID_CACHE``
        met, which are the common ones."""
        unseen = [t for t, i in zip(terms, ids) if i is None and len(t) <= self._width]
        found = dict.fromkeys((t for t, i in zip(terms, ids) if i is None), -1)
        if unseen and self.n_terms:
            wanted = np.asarray(unseen, dtype=self.vocab.dtype)   # same width: no copy of vocab
            pos = np.minimum(self.vocab.searchsorted(wanted), self.n_terms - 1)
            found.update(zip(unseen, np.where(self.vocab[pos] == wanted, pos, -1).tolist()))
        if len(self._term_ids) + len(found) <= TERM_ID_CACHE:
            self._term_ids.update(found)
        return [found[t] if i is None else i for t, i in zip(terms, ids)]

    def _match_uncached(self, normalized: str) -> Match:
        views = self.views_of(normalized)
        v = views["verdict"]
        if v.urgent:
            typed = v.scam_type not in (NONE, EMERGENCY) and \
                views["retrieval"].max(initial=0.0) >= self.params.urgent_min_score
            if typed:
                cases = self._best_cases(views["doc_scores"], v.scam_type)
            else:
                cases = self._emergency_cases(views["doc_scores"], v.urgent_kind)
        elif v.category == NONE:
            cases = ()
        else:
            cases = self._best_cases(views["doc_scores"], v.category)
        return Match(v.category, v.probability, v.urgent, cases, v.urgency, v.ranking,
                     v.urgent_kind)

    def views_of(self, normalized: str) -> dict:
        """Every view of a normalised message and the verdict combining them (for match and
        for ``ask --explain``)."""
        request = money_request(normalized)   # (read by the rules and the decision)
        urgency = detect_urgency(normalized, request)
        masked = mask_for_matching(normalized)   # both views read the masked text
        # One segmentation: its tokens for the retrieval, its words for the scope view.
        words, tokens = words_and_tokens(normalized, self.segmenter, masked)
        retrieval, doc_scores = self._retrieval(normalized, masked, tokens)
        ids, w = self.views.features.vector(normalized, masked)   # once, for all n-gram models
        p_model, p_urgency = self.views.judge_vector(ids, w)
        model = p_model[self._view_order] if self._view_knows_all else \
            np.where(self._view_known, p_model[self._view_order], 0.0)
        urgent_probs = dict(zip(self.views.urgency.classes, p_urgency.tolist()))
        known = self._known_line(doc_scores)
        if known is not None:
            off_topic = None   # (nearly) a line of the bank: answered as it is labelled
        else:
            off_topic = self.scope.off_topic_probability(normalized, ids, w, words)
        names = known is not None or self.names_a_scam(words)
        verdict = decide(self.categories, retrieval, model, urgency, urgent_probs,
                         request, self.triage, cjk_chars(normalized),
                         off_topic, names)
        if known is not None:
            verdict = self._as_labelled(verdict, known)
        return {"retrieval": retrieval, "model": model, "doc_scores": doc_scores,
                "urgent_probs": urgent_probs, "off_topic": off_topic, "names_a_scam": names,
                "verdict": verdict}

    def names_a_scam(self, words: list[str]) -> bool:
        """Whether a message's words (``words_and_tokens``) name something a scam is about: a
        scam term (the articles' keywords, ETC and APP too, and terms.txt), a word of the cases
        (``scope.case_only_words``), or a pasted link or phone number (masked as 链接 and
        电话号码). A short message naming none of them gets the menu (triage.short_max_chars)."""
        return not self._scam_words.isdisjoint(words)

    def _known_line(self, doc_scores) -> int | None:
        """The document a message (nearly) repeats, if any."""
        if doc_scores is None:
            return None
        best = int(doc_scores.argmax())
        return best if doc_scores[best] >= KNOWN_LINE_SCORE else None

    def _as_labelled(self, verdict, doc: int):
        """A (nearly) known example line of a case gets that case's category, whatever the
        n-gram views say: an editor's 加为例句 is answered with the case at once, even when
        the views, trained on everything else, lean elsewhere (urgency still comes first)."""
        ai = int(self.arrays["doc_article"][doc])
        if ai < 0 or verdict.urgent or DOC_KINDS[int(self.arrays["doc_kind"][doc])] != "example":
            return verdict
        category = self.articles[self._article_ids[ai]].category
        if verdict.category == category:
            return verdict
        return replace(verdict, category=category, scam_type=category)

    def _retrieval(self, normalized: str, masked: str | None = None,
                   tokens: list[str] | None = None):
        """Per-category retrieval scores (nearest document mixed with the centroid) and the
        per-document scores (None for an empty query)."""
        tids, qw = self.query_vector(normalized, masked, tokens)
        n_cat = len(self.categories)
        if not len(tids):
            return np.zeros(n_cat), None
        a = self.arrays
        doc_scores = _gather(a["post_ptr"], a["post_doc"], a["post_w"], tids, qw, self.n_docs)
        cat_scores = _gather(a["cent_ptr"], a["cent_cat"], a["cent_w"], tids, qw, n_cat)
        doc_scores *= a["doc_weight"]
        best_doc = np.maximum.reduceat(doc_scores, a["cat_starts"])
        p = self.params
        return p.nn_weight * best_doc + (1 - p.nn_weight) * cat_scores, doc_scores

    def _emergency_cases(self, doc_scores, kind: str, limit: int = 3) -> tuple[str, ...]:
        """Emergency articles for an urgent message of no known scam type: stopping a payment
        and a loss need different ones. The nearest urgent line of the message's kind picks
        the first; articles whose urgent lines are mostly of the other kind come last."""
        ids: list[str] = []
        if doc_scores is not None and EMERGENCY in self.categories:
            for aid in self._matching_articles(doc_scores, EMERGENCY,
                                               among=self._emergency_documents_of(kind)):
                if aid not in ids:
                    ids.append(aid)
        ids += [a for a in self._best_cases(doc_scores, EMERGENCY, len(self.articles))
                if a not in ids]
        return tuple(sorted(ids, key=lambda aid: self._not_for_kind.get(aid) == kind))[:limit]

    def _emergency_documents_of(self, kind: str) -> np.ndarray:
        """Which documents of the emergency category are urgent lines of ``kind`` (a mask),
        computed once per kind."""
        if kind not in self._of_kind:
            lo, hi = self._category_span(EMERGENCY)
            urgent_kinds: dict[int, list[str | None]] = {}   # article index -> its documents'
            kinds = []
            for ai, part in zip(self.arrays["doc_article"][lo:hi].tolist(),
                                self.arrays["doc_part"][lo:hi].tolist()):
                if ai < 0:
                    kinds.append(None)
                    continue
                if ai not in urgent_kinds:
                    article = self.articles[self._article_ids[ai]]
                    urgent_kinds[ai] = [k for _, _, k in _article_documents(article)]
                kinds.append(urgent_kinds[ai][part])
            self._of_kind[kind] = np.asarray([k == kind for k in kinds], dtype=bool)
        return self._of_kind[kind]

    def _category_span(self, category: str) -> tuple[int, int]:
        """The documents of a category: [lo, hi) (documents are grouped by category)."""
        ci = self.categories.index(category)
        starts = self.arrays["cat_starts"]
        return int(starts[ci]), int(starts[ci + 1]) if ci + 1 < len(starts) else self.n_docs

    def _matching_articles(self, doc_scores, category: str, top: int | None = None,
                           among: np.ndarray | None = None):
        """The article id (None: an off-topic line) of each of the category's documents that
        match the message (score > 0), best first: all of them (ties in document order), or
        only those among its ``top`` + 1 best (a partial sort, for callers that need a few
        articles). ``among``: a mask of the category's documents, the only ones walked."""
        lo, hi = self._category_span(category)
        scores = doc_scores[lo:hi]
        if among is not None:
            scores = np.where(among, scores, 0.0)   # (scores are never negative)
        if top is None:
            order = np.argsort(-scores, kind="stable")
        else:
            k = min(top, len(scores) - 1)
            best = np.argpartition(-scores, k)[:k + 1] if k > 0 else np.arange(len(scores))
            order = best[np.argsort(-scores[best], kind="stable")]
        for score, ai in zip(scores[order].tolist(),
                             self.arrays["doc_article"][lo + order].tolist()):
            if score <= 0:
                return
            yield self._article_ids[ai] if ai >= 0 else None

    def _best_cases(self, doc_scores, category: str, limit: int = 3) -> tuple[str, ...]:
        """Articles of the category, best-matching first (all of them if nothing matched)."""
        ids: list[str] = []
        if doc_scores is not None and category in self.categories:
            for aid in self._matching_articles(doc_scores, category, top=64):
                if aid is not None and aid not in ids:
                    ids.append(aid)
                    if len(ids) == limit:
                        break
        for aid in self._by_category.get(category, ()):
            if len(ids) >= limit:
                break
            if aid not in ids:
                ids.append(aid)
        return tuple(ids)


# An article whose urgent lines are at least this share of one kind is not the emergency article
# for the other kind (刚转账发现被骗了 is not the answer to 我妈要去给骗子汇款 怎么拦).
OTHER_KIND_SHARE = 0.75


def _mapped(path: Path, name: str) -> np.ndarray:
    """A saved array, mapped read-only. A plain ndarray view of the file: indexing a
    np.memmap costs Python-level overhead on every query."""
    return np.asarray(np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False))


def _gather(ptr, index, weight, tids, qw, size: int) -> np.ndarray:
    """Sum of the query terms' posting rows (CSR), each scaled by its query weight: every
    row gathered in one go instead of one numpy call per term."""
    starts = ptr[tids]
    lens = ptr[tids + 1] - starts
    offsets = np.repeat(starts - (np.cumsum(lens) - lens), lens)
    offsets += np.arange(len(offsets))
    return np.bincount(index[offsets], weights=weight[offsets] * np.repeat(qw, lens),
                       minlength=size)


# -- building -----------------------------------------------------------------------------
VIEW_PREFIX = "ngram_"   # the n-gram models' arrays inside Engine.arrays
DOC_KINDS = ("head", "example", "body")


def _article_documents(a: Article):
    """(kind, text, urgent kind or None) of each document an article makes, in order (its
    ``part``): its head (title, summary, keywords), its examples, its urgent lines (indexed
    as examples; their kind picks the emergency articles: ``Engine._emergency_cases``), its
    body (套路 and 识别要点). The one place that says which documents an article makes."""
    yield "head", " ".join([a.title, a.summary, *a.keywords]), None
    for ex in a.examples:
        yield "example", ex, None
    for ex, kind in a.urgent_examples:
        yield "example", ex, kind
    yield "body", a.section_text("套路") + "\n" + a.section_text("识别要点"), None


def _documents(articles, offtopic):
    """(article index or -1, category, field weight, text, kind, part) per document, in a
    stable order; ``part`` finds the text again (``Engine.document``)."""
    for ai, a in enumerate(articles):
        for part, (kind, text, _) in enumerate(_article_documents(a)):
            yield ai, a.category, FIELD_WEIGHTS[kind], text, DOC_KINDS.index(kind), part
    for part, q in enumerate(offtopic):
        yield -1, NONE, FIELD_WEIGHTS["example"], q, DOC_KINDS.index("example"), part


PARALLEL_MIN_DOCUMENTS = 20000   # below this, starting processes costs more than it saves
TOKENIZE_BATCH = 4000           # texts cut together (bulk.cut_many)
BULK_MIN_TEXTS = 20000          # from here, tokenising in batches pays for its arrays


def _count_terms(texts, normalize, segmenter,
                 lexicon=None) -> tuple[list[str], array, array, array]:
    """(words, terms per text, entries, counts) of the texts, in order: compact arrays, not
    lists of Python ints (at 10,000 articles there are millions of entries). An entry is a
    word's index in ``words`` or, for a character bigram, ``_BIGRAM`` | its key (its two
    code points, ``_bigram_entries``): bigrams, most of the entries, never become strings
    here. A text's entries are its distinct tokens (``tokenize``) in the order they first
    occur. A big build cuts the words in batches (``bulk.kept_words_many``, with the
    segmenter's dictionary as arrays: ``lexicon``); below ``BULK_MIN_TEXTS`` making those
    arrays costs more time and memory than they save, and the texts are cut one by one (the
    same words)."""
    if lexicon is None and len(texts) >= BULK_MIN_TEXTS:
        lexicon = lexicon_of(segmenter)

    def words_of(masked):
        if lexicon is None:
            return kept_words(masked, segmenter)
        return kept_words_many(masked, segmenter, lexicon)

    vocab = _Vocabulary()
    lengths, entries, tf_of = array("i"), array("q"), array("i")
    for start in range(0, len(texts), TOKENIZE_BATCH):
        masked = mask_many(normalize.many(texts[start:start + TOKENIZE_BATCH]))
        terms, tfs, per_text = [], [], array("i")
        for words in words_of(masked):
            counts = Counter(words)
            per_text.append(len(counts))
            terms += counts
            tfs += counts.values()
        word_counts = np.frombuffer(per_text, np.int32)
        bigram_counts, keys, key_tfs = _bigram_entries(masked)
        # Each text's words, then its bigrams (as tokenize lists them).
        total = word_counts + bigram_counts
        place = np.cumsum(total) - total
        out = np.empty(int(total.sum()), np.int64)
        counts = np.empty(len(out), np.int32)
        at = _positions(place, word_counts)
        out[at] = np.fromiter(map(vocab.__getitem__, terms), np.int64, len(terms))
        counts[at] = tfs
        at = _positions(place + word_counts, bigram_counts)
        out[at] = keys | _BIGRAM
        counts[at] = key_tfs
        lengths.frombytes(total.astype(np.int32).tobytes())
        entries.frombytes(out.tobytes())
        tf_of.frombytes(counts.tobytes())
    return list(vocab), lengths, entries, tf_of


_BIGRAM = 1 << 62   # the flag of a bigram's entry (its key has 42 bits)


def _positions(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``starts[i] + j`` for j < counts[i], for every i in order."""
    total = int(counts.sum())
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return offsets + np.arange(total)


def _bigram_entries(masked: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The character bigrams of each masked text's CJK runs as ``tokenize`` counts them, in
    numpy: (distinct bigrams per text, their keys (code points, 21 bits each) text by text in
    the order each first occurs, their counts)."""
    runs = ["\0".join(_CJK_RUN_RE.findall(t)) for t in masked]
    sizes = np.fromiter(map(len, runs), np.int64, len(runs))
    cp = np.frombuffer("\0".join(runs).encode("utf-32-le"), np.uint32).astype(np.int64)
    if len(cp) < 2:
        return np.zeros(len(runs), np.int32), np.zeros(0, np.int64), np.zeros(0, np.int32)
    at = np.flatnonzero((cp[:-1] != 0) & (cp[1:] != 0))   # pairs inside a run
    text = np.repeat(np.arange(len(runs), dtype=np.int64), sizes + 1)[at]
    pairs = (text << 42) | (cp[at] << 21) | cp[at + 1]
    order = np.argsort(pairs, kind="stable")   # equal pairs of a text: the first one first
    pairs = pairs[order]
    first = np.flatnonzero(np.concatenate(([True], pairs[1:] != pairs[:-1])))
    tfs = np.diff(np.append(first, len(pairs))).astype(np.int32)
    by_occurrence = np.argsort(at[order[first]])   # (positions are distinct)
    pairs, tfs = pairs[first][by_occurrence], tfs[by_occurrence]
    per_text = np.bincount(pairs >> 42, minlength=len(runs)).astype(np.int32)
    return per_text, pairs & ((1 << 42) - 1), tfs


class _Vocabulary(dict):
    """term -> id, a new term getting the next id."""

    def __missing__(self, term: str) -> int:
        i = self[term] = len(self)
        return i


class _TermIds:
    """The build's term ids, as the tokenising's chunks (``_count_terms``) come in: words in
    a dict, bigrams by their keys in numpy (sorted, with their ids). Until ``finish`` a
    bigram's id is -1 - its index among the bigrams; then it follows the words."""

    def __init__(self):
        self.words = _Vocabulary()
        self._keys = np.zeros(0, np.int64)      # sorted
        self._key_ids = np.zeros(0, np.int32)   # index among the bigrams, in order of first sight

    def ids(self, words: list[str], entries) -> bytes:
        """A chunk's entries as int32 term ids."""
        entries = np.frombuffer(entries, np.int64)
        word_ids = np.fromiter(map(self.words.__getitem__, words), np.int32, len(words))
        out = np.empty(len(entries), np.int32)
        bigram = entries >= _BIGRAM
        out[~bigram] = word_ids[entries[~bigram]]
        # The chunk's distinct keys (sorted: looked up in order, fast), then its entries.
        keys, first, inverse = np.unique(entries[bigram] - _BIGRAM, return_index=True,
                                         return_inverse=True)
        at = np.minimum(self._keys.searchsorted(keys), max(len(self._keys) - 1, 0))
        unseen = self._keys[at] != keys if len(self._keys) else np.ones(len(keys), bool)
        new = keys[unseen][np.argsort(first[unseen])]   # ids in order of first sight
        keys_all = np.concatenate((self._keys, new))
        ids_all = np.concatenate((self._key_ids, np.arange(len(self._keys),
                                                           len(keys_all), dtype=np.int32)))
        order = np.argsort(keys_all, kind="stable")
        self._keys, self._key_ids = keys_all[order], ids_all[order]
        out[bigram] = (-1 - self._key_ids[self._keys.searchsorted(keys)])[inverse]
        return out.tobytes()

    def finish(self, term_of: array) -> list[str]:
        """The vocabulary in id order (words, then bigrams: '~' and its two characters), with
        ``term_of``'s bigram ids put after the words' (in place)."""
        words = list(self.words)
        ids = np.frombuffer(term_of, np.int32)
        bigram = ids < 0
        ids[bigram] = len(words) - 1 - ids[bigram]
        keys = np.empty(len(self._keys), np.int64)
        keys[self._key_ids] = self._keys
        cp = np.stack((np.full(len(keys), ord("~")), keys >> 21, keys & ((1 << 21) - 1)), axis=1)
        return words + cp.astype(np.uint32).view("U3").ravel().tolist()   # (native order)


class _ArraySink:
    """Where a build puts each array it has finished: kept in a dict, or, building into an
    index directory, written to its ``.npy`` file at once (as ``Engine.save`` writes it) and
    dropped, then mapped read-only when the build is done (``arrays``)."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self._arrays: dict[str, np.ndarray] = {}
        self._written: list[str] = []

    def put(self, name: str, array: np.ndarray) -> None:
        if self.directory is None:
            self._arrays[name] = array
            return
        np.save(self.directory / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        self._written.append(name)

    def written(self, names) -> None:
        """Arrays another process wrote into the directory (the training process)."""
        self._written += names

    def fill(self, name: str, dtype, length: int) -> "_Filling":
        """An array of ``length`` entries to be written a block at a time (``write``, in
        order, then ``close``): straight to its file, or into an array kept here."""
        if self.directory is None:
            self._arrays[name] = np.empty(length, dtype)
            return _Filling(self._arrays[name], None)
        self._written.append(name)
        return _Filling(np.dtype(dtype), self.directory / f"{name}.npy", length)

    def arrays(self) -> dict[str, np.ndarray]:
        return {**self._arrays, **{name: _mapped(self.directory, name) for name in self._written}}


class _Filling:
    """One array written a block at a time: into memory, or to a ``.npy`` file (the header
    ``np.save`` writes, then the blocks' bytes)."""

    def __init__(self, target, path: Path | None, length: int | None = None):
        self.at = 0
        if path is None:
            self.array, self.file = target, None
            self.dtype, self.length = target.dtype, len(target)
            return
        self.array, self.dtype, self.length = None, target, length
        self.file = open(path, "wb")
        np.lib.format.write_array_header_1_0(self.file, {
            "descr": np.lib.format.dtype_to_descr(target), "fortran_order": False,
            "shape": (length,)})

    def write(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if self.file is None:
            self.array[self.at:self.at + len(block)] = block
        else:
            block.tofile(self.file)
        self.at += len(block)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.at != self.length:
            raise ValueError(f"{self.at} entries written of {self.length}")


class _Training:
    """Training the n-gram models, a part of the build that needs no tokens: in this process
    (``run``), or in a fresh Python process (``start``) while this one's forked processes
    tokenise. A fresh process, not a fork: a fork starts with every page of the builder
    (jieba's dictionary, the articles' text: about 175 MB at 10,000 articles) and adds
    scikit-learn and the training matrices to that; a fresh one starts from the imports and
    is handed its training sample only, drawn and normalised here (``send_sample``), with
    the scope view's words. With an index directory the process writes its arrays there
    itself; otherwise they come back pickled."""

    def __init__(self, articles, offtopic: list[str], normalize: Normalizer,
                 directory: Path | None, segmenter: Segmenter):
        self.articles = articles
        self.offtopic = list(offtopic)
        self.normalize = normalize
        self.directory = directory
        self.segmenter = segmenter   # the scope view learns words cut as queries are
        self._process: subprocess.Popen | None = None
        self._file = None        # what the process is sent (``_send``)
        self._paused = False     # the process said it waits for ``release``

    def run(self, sink: _ArraySink) -> None:
        """Train the models in this process and hand them to the sink."""
        for name, array in train_models(self.articles, self.offtopic, self.normalize,
                                        self.segmenter).items():
            sink.put(f"{VIEW_PREFIX}{name}", array)

    def start(self) -> None:
        """Start the training process; it imports while this one draws its sample
        (``send_sample``)."""
        # This process's import path, and only it ("-P": not the current directory first,
        # where another checkout's ``bot`` may be).
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p or os.getcwd() for p in sys.path))
        self._file = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, "-P", "-c",
             f"from {__name__} import _train_from_stdin; _train_from_stdin()",
             str(self._file.fileno())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
            pass_fds=(self._file.fileno(),))

    def _send(self, value) -> None:
        """Hand the started process a value: pickled into an unnamed temporary file it
        inherits, and where it lies there (offset, length) as a line on its stdin, which it
        reads when it needs the value. Through the pipe itself a large write would wait
        until the process reads (it imports scikit-learn first, about a second)."""
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        offset = self._file.seek(0, os.SEEK_END)
        self._file.write(data)
        self._file.flush()
        try:
            self._process.stdin.write(b"%d %d\n" % (offset, len(data)))
            self._process.stdin.flush()
        except BrokenPipeError:
            raise RuntimeError("training the n-gram models failed: the process ended (exit "
                               f"{self._process.wait()})") from None

    def send_sample(self, lexicon) -> None:
        """Draw and normalise the training sample here, where the scope view's words are cut
        from it (``bulk.words_many`` with the builder's ``lexicon``: a segmenter of the
        training process's own would cost it jieba's dictionary, ~60 MB of its peak), and
        send both: the sample first, which the process needs as soon as it has imported; the
        words only after the category model. The batch cut keeps no memo in the
        segmenter (its HMM runs are cut apart)."""
        sample = _training_sample_of(self.articles, self.offtopic, self.normalize)
        self._send((sample, None if self.directory is None else str(self.directory)))
        self._send(words_many(sample.scope_texts(), self.segmenter, lexicon))

    def release(self) -> None:
        """Let the started process train the rest (the urgency model and the scope view,
        about a second at 10,000 articles): the tokenising's last chunks are handed out, and
        the rest runs beside them and this process's own last part (``_build_arrays``)
        instead of before them, while one core would stay idle."""
        if self._process is not None and not self._process.stdin.closed:
            self._process.stdin.close()

    def busy(self) -> bool:
        """Whether a started training process is still training the category model (it
        writes one byte when it is done and waits for ``release``); False if none was
        started or it has ended."""
        if self._process is None or self._paused:
            return False
        if self._process.poll() is not None:
            return False
        if select.select([self._process.stdout], [], [], 0)[0]:
            os.read(self._process.stdout.fileno(), 1)   # its byte (or nothing: it ended)
            self._paused = True
        return not self._paused

    def abandon(self) -> None:
        """Stop a started training process (the build failed elsewhere)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        if self._process is not None:
            self._process.wait()
            for pipe in (self._process.stdin, self._process.stdout):
                try:
                    pipe.close()
                except OSError:   # (what was still buffered for the ended process)
                    pass
        self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def finish(self, sink: _ArraySink) -> None:
        """Wait for the started process's models and hand them to the sink."""
        self.release()
        if not self._paused:
            self._process.stdout.read(1)   # its byte after the category model
        out = self._process.stdout.read()
        self._process.stdout.close()
        self._close_file()
        if self._process.wait() != 0:
            raise RuntimeError(f"training the n-gram models failed (exit {self._process.returncode})")
        result = pickle.loads(out)
        if self.directory is not None:
            sink.written(result)   # the names it wrote
        else:
            for name, array in result.items():
                sink.put(name, array)


def _train_from_stdin() -> None:
    """The training process (``_Training.start``): its sample, then the scope view's words,
    read from the file whose descriptor is its argument where the lines on stdin say
    (``_Training._send``); stdin's end is ``release``. The arrays written into the index
    directory (their names out on stdout), or pickled to stdout."""
    gc.disable()   # it does nothing else; see _count_all_terms
    fd = int(sys.argv[1])
    stdin = sys.stdin.buffer

    def received():
        offset, length = (int(x) for x in stdin.readline().split())
        return pickle.loads(os.pread(fd, length, offset))

    sample, directory = received()
    words = []

    def pause():   # after the category model: the rest waits for the tokenising
        sys.stdout.buffer.write(b".")
        sys.stdout.buffer.flush()
        words.append(received())
        stdin.read()   # (its end: ``_Training.release``)

    trained = {f"{VIEW_PREFIX}{k}": v for k, v in
               train_sample(sample, scope_words=lambda: words[0], pause=pause).items()}
    os.close(fd)
    if directory is not None:
        sink = _ArraySink(Path(directory))
        for name, array in trained.items():
            sink.put(name, array)
        trained = list(trained)
    sys.stdout.buffer.write(pickle.dumps(trained, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()


_worker_tools = None   # (normalize, segmenter, lexicon), inherited by forked build processes


def _count_terms_in_worker(texts):
    gc.disable()   # see _count_all_terms; this process does nothing else
    normalize, segmenter, lexicon = _worker_tools
    return _count_terms(texts, normalize, segmenter, lexicon)


def _fixed_mmap_threshold(size: int = 1 << 20) -> None:
    """Make glibc give freed big blocks back at once in this (single-threaded, building)
    process. By default it raises its mmap threshold to the size of each big block freed
    (up to 32 MB), so the build's large numpy temporaries come from the heap afterwards, and
    a heap keeps its freed pages: about 50 MB of peak RSS at 10,000 articles. Elsewhere
    (another libc) this does nothing."""
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(-3, size)   # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _tokenised(pool, chunks, processes: int, training: "_Training"):
    """The pool's results for the chunks, in order. While the training process trains the
    category model, one core is its own: at most ``processes - 1`` chunks are in work (three
    processes sharing two cores would give the training two thirds of one, and it, the
    longest single part, would finish alone on one core after the tokenising); all
    ``processes`` once it waits for the tokenising to end (``_Training.busy``), which, for
    it, is when the last chunk is handed out."""
    pending: list = []
    submitted = 0
    while submitted < len(chunks) or pending:
        limit = max(1, processes - 1) if training.busy() else processes
        while submitted < len(chunks) and len(pending) < limit:
            pending.append(pool.apply_async(_count_terms_in_worker, (chunks[submitted],)))
            chunks[submitted] = None   # sent: the texts need not stay here
            submitted += 1
        if submitted == len(chunks):
            # Nothing left to hand out: the rest of the training takes the core that the
            # first process to finish its last chunk leaves.
            training.release()
        yield pending.pop(0).get()


def _document_count(articles, offtopic) -> int:
    """How many documents ``_documents`` lists (before it lists them: a few milliseconds
    for the bank)."""
    return sum(1 for a in articles for _ in _article_documents(a)) + len(offtopic)


def _processes_for(processes: int | None, documents: int) -> int:
    """The processes a build of so many documents tokenises in: ``processes``, or every core
    for a big build; one in a threaded process (a web worker, the scheduler), where forking
    is unsafe."""
    if processes is None:
        processes = os.cpu_count() or 1 if documents >= PARALLEL_MIN_DOCUMENTS else 1
    return 1 if threading.active_count() > 1 else processes


def _count_all_terms(texts: list[str], normalize, segmenter, processes: int,
                     training: _Training, sink: _ArraySink):
    """Tokenise the texts. With ``processes`` > 1 (``_processes_for``: a big build in a
    single-threaded process, ``build-index`` or ``init-db``) one process per core is forked
    to tokenise, beside ``training``, the n-gram models (which need no tokens) trained in the
    fresh process the caller has started (and sent its sample and words here); the texts are
    handed out chunk by chunk and ``texts`` emptied (the merge then needs their memory).
    Otherwise they are tokenised here (the caller has trained the models already). The
    result is the same either way: chunks are merged in order."""
    global _worker_tools
    if processes < 2:
        words, lengths, entries, tf_of = _count_terms(texts, normalize, segmenter)
        ids = _TermIds()
        term_of = array("i", ids.ids(words, entries))
        return ids.finish(term_of), lengths, term_of, tf_of
    import multiprocessing

    _fixed_mmap_threshold()
    try:
        # The segmenter's dictionary as arrays, made while the training process imports: for
        # the scope view's words (``send_sample``), then for the forked processes, which share
        # it.
        lexicon = lexicon_of(segmenter)
        training.send_sample(lexicon)
    except BaseException:
        training.abandon()
        raise

    # Python's cyclic garbage collector walks the build's many young containers (token
    # lists, cuts, tuples) again and again for cycles the build does not make: 12% of the
    # tokenising CPU in one process. Off in the forked processes (they do nothing else);
    # here everything built so far is frozen (not walked, and not written to by the
    # collector in the children's copies).
    gc.freeze()
    size = -(-len(texts) // (processes * 8))
    chunks = [texts[i:i + size] for i in range(0, len(texts), size)]
    texts.clear()   # the caller's list: each chunk's texts go once it is handed out
    ids = _TermIds()
    # (Counts as uint16 while they fit: a count above 65,535 makes them int32.)
    lengths, term_of, tf_of = array("i"), array("i"), array("H")
    _worker_tools = (normalize, segmenter, lexicon)   # dropped with the pool
    del lexicon
    try:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            # The processes have their copy (forked when the pool starts): this one needs no
            # lexicon while it merges (8-20 MB).
            _worker_tools = None
            for words, part_lengths, entries, part_tfs in _tokenised(pool, chunks, processes,
                                                                     training):
                lengths.extend(part_lengths)
                term_of.frombytes(ids.ids(words, entries))
                part_tfs = np.frombuffer(part_tfs, np.int32)
                if tf_of.typecode == "H" and len(part_tfs) and part_tfs.max() > 0xFFFF:
                    tf_of = array("i", tf_of)
                tf_of.frombytes(part_tfs.astype(tf_of.typecode).tobytes())
    except BaseException:
        training.abandon()
        raise
    finally:
        _worker_tools = None
        gc.unfreeze()
    training.release()   # (if no chunk released it) the rest runs beside _build_arrays' last part
    return ids.finish(term_of), lengths, term_of, tf_of


def _entry_weights(tf: np.ndarray, terms: np.ndarray, term_scale: np.ndarray) -> np.ndarray:
    """Sublinear TF-IDF of (document, term) entries, before each document's length is
    divided out: (1 + log tf) * the term's scale, the same operations in the same order
    wherever an entry is weighed (so the same bits)."""
    part = tf.astype(np.float64)
    np.log(part, out=part)
    part += 1.0
    part *= term_scale[terms]
    return part


_SLICE = 1 << 20   # entries at a time where numpy would copy a whole int32 array as int64


def _bincount(values: np.ndarray, length: int) -> np.ndarray:
    """``np.bincount(values, minlength=length)`` a slice at a time: bincount converts int32
    input to int64, a copy of the whole (32 MB for the 4 million entries at 10,000
    articles)."""
    counts = np.zeros(length, np.int64)
    for lo in range(0, len(values), _SLICE):
        counts += np.bincount(values[lo:lo + _SLICE], minlength=length)
    return counts


def _build_arrays(articles, offtopic, normalize, segmenter, processes: int | None = None,
                  directory: Path | None = None) -> tuple[dict, dict]:
    """Tokenise every document once, then weigh, normalise and invert in numpy. Documents are
    grouped by category (a stable sort), so a category's best one is one reduceat away and
    the postings come out ordered by (term, category, document) from one transposition.
    With a ``directory`` each array goes to its file as soon as it is final (``_ArraySink``).
    The n-gram models (``_Training``) are trained first in a small build, and meanwhile in a
    big one, in another process whose last part runs beside this one's."""
    sink = _ArraySink(directory)
    training = _Training(articles, offtopic, normalize, directory, segmenter)
    processes = _processes_for(processes, _document_count(articles, offtopic))
    if processes < 2:
        training.run(sink)   # first: its transient peak then meets none of the build's arrays
        meta = _index_arrays(articles, offtopic, normalize, segmenter, processes, training, sink)
        return sink.arrays(), meta
    try:
        # First thing: the training process is the build's longest single part, and it
        # imports while this one lists the documents and draws its sample.
        training.start()
        meta = _index_arrays(articles, offtopic, normalize, segmenter, processes, training, sink)
        training.finish(sink)
    except BaseException:
        training.abandon()
        raise
    return sink.arrays(), meta


def _index_arrays(articles, offtopic, normalize, segmenter, processes: int | None,
                  training: "_Training", sink: _ArraySink) -> dict:
    """``_build_arrays``' work but the training's: every array into ``sink``; the meta."""
    documents = sorted(_documents(articles, offtopic), key=lambda d: d[1])
    texts = [d[3] for d in documents]
    # The other columns as arrays (not 110,000 tuples beside the tokenising's results); the
    # texts are given away (``_count_all_terms`` empties the list as it hands them out).
    names = sorted({d[1] for d in documents})
    code = {c: i for i, c in enumerate(names)}
    columns = [np.fromiter((code[d[1]] for d in documents), np.int32, len(documents)),
               np.fromiter((d[0] for d in documents), np.int32, len(documents)),
               np.fromiter((d[2] for d in documents), np.float64, len(documents)),
               np.fromiter((d[4] for d in documents), np.int8, len(documents)),
               np.fromiter((d[5] for d in documents), np.int32, len(documents))]
    del documents, code
    vocab, lengths, term_of, tf_of = _count_all_terms(texts, normalize, segmenter, processes,
                                                      training, sink)
    del texts
    lengths = np.frombuffer(lengths, dtype=np.int32)
    kept_docs = np.flatnonzero(lengths)              # a text without tokens is no document
    n = len(kept_docs)
    doc_name, doc_article, doc_weight, doc_kind, doc_part = (c[kept_docs] for c in columns)
    del columns
    present = np.unique(doc_name)
    categories = [names[i] for i in present.tolist()]
    doc_cat = np.searchsorted(present, doc_name).astype(np.int32)
    del doc_name, names, present

    # Vocabulary: sorted, so a worker finds a word by binary search in the mapped array;
    # terms in too many documents carry no signal, and overlong ones are pasted junk.
    terms = np.frombuffer(term_of, dtype=np.int32)
    df = _bincount(terms, len(vocab))
    # What is read of every term is read in id order, the order the strings were made in:
    # in sorted order each string is a cache miss (0.2 s a pass at 10,000 articles).
    term_chars = np.fromiter(map(len, vocab), np.int64, len(vocab))
    keep_term = (df <= max(3, int(MAX_DF_RATIO * n))) & (term_chars <= MAX_TERM_CHARS)
    is_bigram = np.fromiter((t[:1] == "~" for t in vocab), bool, len(vocab))
    # Sorted as Python strings (code points, as numpy compares them): no fixed-width copy of
    # the whole vocabulary, only of the kept terms.
    kept_ids = sorted(np.flatnonzero(keep_term).tolist(), key=vocab.__getitem__)
    sorted_kept = np.asarray(kept_ids, dtype=np.int64)
    term_id = np.full(len(vocab), -1, dtype=np.int32)
    term_id[sorted_kept] = np.arange(len(sorted_kept), dtype=np.int32)
    n_terms = len(kept_ids)
    width = int(term_chars[sorted_kept].max()) if n_terms else 1
    bigram = is_bigram[sorted_kept]
    del term_chars, is_bigram
    # The fixed-width vocabulary array (27 MB at 10,000 articles) made and written a block
    # at a time: never whole beside the Python strings it is made from.
    vocab_sorted = sink.fill("vocab", f"<U{width}", n_terms)
    for lo in range(0, n_terms, 1 << 14):
        vocab_sorted.write(np.asarray([vocab[i] for i in kept_ids[lo:lo + (1 << 14)]],
                                      dtype=f"<U{width}"))
    vocab_sorted.close()
    del vocab, kept_ids, vocab_sorted
    idf = np.log((1 + n) / (1 + df[sorted_kept].astype(np.float64))) + 1.0
    term_scale = idf * np.where(bigram, BIGRAM_WEIGHT, 1.0)
    del bigram

    # Document vectors: sublinear TF-IDF, unit length. These arrays have an entry per
    # (document, term), in document order (``doc_ptr``: where each document's entries
    # start): weighed a block of whole documents at a time, so the temporaries stay small
    # (a document's entries are summed in the same order either way).
    per_doc = lengths[kept_docs].astype(np.int64)
    tf = np.frombuffer(tf_of, dtype=tf_of.typecode)
    if not keep_term.all():
        entry = keep_term[terms]
        if n:
            doc_starts = np.zeros(n, np.int64)
            np.cumsum(per_doc[:-1], out=doc_starts[1:])
            per_doc = np.add.reduceat(entry, doc_starts, dtype=np.int64)
        tf, terms = tf[entry], terms[entry]
        del entry
    terms = term_id[terms]
    del term_of
    doc_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(per_doc, out=doc_ptr[1:])
    # Each document's length (the weights themselves, 8 bytes an entry, are made again a
    # block at a time where the postings need them: ``_entry_weights``).
    doc_norm = np.empty(n)
    doc_bounds = np.linspace(0, n, 17).astype(np.int64).tolist()
    for d0, d1 in zip(doc_bounds[:-1], doc_bounds[1:]):
        lo, hi = int(doc_ptr[d0]), int(doc_ptr[d1])
        part = _entry_weights(tf[lo:hi], terms[lo:hi], term_scale)
        local = np.repeat(np.arange(d1 - d0), per_doc[d0:d1])
        norms = np.sqrt(np.bincount(local, weights=np.square(part), minlength=d1 - d0))
        doc_norm[d0:d1] = np.where(norms > 0, norms, 1.0)
    del tf_of, part, local, norms, per_doc

    # Postings (CSR by term, documents ascending within a term) and centroids, a block of
    # whole terms at a time: the block's entries picked from the document-major arrays in
    # their order and put in term order by a stable sort, so no term-major copy of the
    # entries is ever whole in memory (post_doc and post_w go to their files block by
    # block). Centroids: per (term, category), the field-weighted sum of its documents,
    # then unit length per category; postings are ordered by (term, category), and each
    # sum runs over the same entries in the same order whatever the blocks.
    post_ptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(_bincount(terms, n_terms), out=post_ptr[1:])
    post_doc = sink.fill("post_doc", np.int32, len(terms))
    post_w = sink.fill("post_w", np.float32, len(terms))
    # Per centroid entry its sum and category (one byte while there are at most 256); per
    # term its number of entries.
    cat_dtype = np.uint8 if len(categories) <= 256 else np.int32
    sums, key_cat = [np.zeros(0)], [np.zeros(0, cat_dtype)]
    cent_count = np.zeros(n_terms, np.int64)
    targets = np.searchsorted(post_ptr, np.linspace(0, int(post_ptr[-1]), 17))
    # (At most 65,536 terms a block: the stable sort of 16-bit keys is numpy's radix sort.)
    term_bounds = np.unique(np.concatenate(([0], targets, np.arange(0, n_terms, 1 << 16),
                                            [n_terms])).clip(0, n_terms))
    # Each entry's block (one byte each, through a table per term).
    block_of_term = np.repeat(np.arange(len(term_bounds) - 1, dtype=np.uint16),
                              np.diff(term_bounds))
    if len(term_bounds) <= 256:
        block_of_term = block_of_term.astype(np.uint8)
    block_of = np.empty(len(terms), block_of_term.dtype)
    for lo in range(0, len(terms), _SLICE):   # (an int32 index is copied as int64 whole)
        block_of[lo:lo + _SLICE] = block_of_term[terms[lo:lo + _SLICE]]
    del block_of_term
    for block, (t0, t1) in enumerate(zip(term_bounds[:-1].tolist(), term_bounds[1:].tolist())):
        if post_ptr[t1] == post_ptr[t0]:
            continue
        picked = np.flatnonzero(block_of == block)
        # Documents found while the entries are in document order (searchsorted is much
        # faster on ascending keys), then put in term order with them.
        docs = (np.searchsorted(doc_ptr, picked, side="right") - 1).astype(np.int32)
        block_terms = terms[picked]
        order = np.argsort((block_terms - t0).astype(np.uint16), kind="stable")
        picked, block_terms, docs = picked[order], block_terms[order], docs[order]
        block_w = _entry_weights(tf[picked], block_terms, term_scale)
        block_w /= doc_norm[docs]
        del picked, order
        post_doc.write(docs)
        post_w.write(block_w.astype(np.float32))
        cats = doc_cat[docs]
        starts = np.flatnonzero(np.concatenate(([True], (block_terms[1:] != block_terms[:-1]) |
                                                (cats[1:] != cats[:-1]))))
        weighted = doc_weight[docs]
        weighted *= block_w
        sums.append(np.add.reduceat(weighted, starts))
        cent_count[t0:t1] = np.bincount(block_terms[starts] - t0, minlength=t1 - t0)
        key_cat.append(cats[starts].astype(cat_dtype))
    post_doc.close()
    post_w.close()
    del tf, terms, doc_ptr, doc_norm, block_of, post_doc, post_w
    sink.put("term_scale", term_scale)
    del term_scale
    cent_w, key_cat = (np.concatenate(x) for x in (sums, key_cat))
    del sums
    cat_norms = np.sqrt(np.bincount(key_cat, weights=cent_w * cent_w, minlength=len(categories)))
    cent_w /= np.where(cat_norms > 0, cat_norms, 1.0)[key_cat]
    cent_ptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(cent_count, out=cent_ptr[1:])
    del cent_count

    for name, array in (
            ("post_ptr", post_ptr),
            ("cent_ptr", cent_ptr),
            ("cent_cat", key_cat.astype(np.int32)),
            ("cent_w", cent_w.astype(np.float32)),
            ("doc_weight", doc_weight.astype(np.float32)),
            ("doc_cat", doc_cat),
            ("doc_article", doc_article),
            ("doc_kind", doc_kind),
            ("doc_part", doc_part),
            ("cat_starts", np.searchsorted(doc_cat, np.arange(len(categories))).astype(np.int64))):
        sink.put(name, array)
    return {"categories": categories, "article_ids": [a.id for a in articles],
            "offtopic": list(offtopic)}


TRAIN_LINES_PER_CLASS = 1400   # per (category, urgency) of the cases (the bank's largest 1,076)
TRAIN_LINES_TOTAL = 42000      # case lines in all (the bank's 20,064): with many classes near
#                                the class limit, every class's limit falls evenly until the
#                                sample fits (10,000 synthetic articles: 43,589 -> 42,000)
OFFTOPIC_LINES_LIMIT = 3600     # the none class: the bank's curated off-topic lines (3,396),
#                                 which do not grow with the articles; every one of them trains


@dataclass
class _TrainingSample:
    """What the models are trained on: the n-gram views' lines (normalised, with their
    category and urgency), and which of them, in which order, the scope view's are
    (``_sample_rows``)."""
    texts: list[str]
    categories: list[str]
    urgency: list[str]
    scope_rows: list[int]    # indexes into texts

    def scope_texts(self) -> list[str]:
        return [self.texts[i] for i in self.scope_rows]

    def scope_off(self) -> list[bool]:
        """Whether each scope line is off-topic (of the ``none`` class)."""
        return [self.categories[i] == NONE for i in self.scope_rows]


def _training_sample_of(articles, offtopic: list[str], normalize: Normalizer) -> _TrainingSample:
    lines, scope_rows = _sample_rows(articles, offtopic)
    return _TrainingSample(normalize.many([t for t, _, _ in lines]), [c for _, c, _ in lines],
                           [u for _, _, u in lines], scope_rows)


def train_models(articles: list[Article], offtopic: list[str], normalize: Normalizer,
                 segmenter: Segmenter | None = None) -> dict[str, np.ndarray]:
    """The n-gram views and the scope view (scope.py, on the views' n-gram features and the
    words of the index's segmenter, cut as queries are (``words_and_tokens``): every case line
    against every off-topic line, same sample), as arrays."""
    return train_sample(_training_sample_of(articles, offtopic, normalize), segmenter)


def train_sample(sample: _TrainingSample, segmenter: Segmenter | None = None,
                 scope_words=None, pause=None) -> dict[str, np.ndarray]:
    """``train_models`` on its drawn sample. ``scope_words``: a function that returns the
    scope lines' words already cut (``bulk.words_many``), so a training process needs no
    segmenter, called once the n-gram views are trained. ``pause``: called after the category
    model (the rest waits for the build's tokenising: ``_Training.release``). The scope view's
    n-gram rows are the views' training matrix's: its lines are in the sample."""
    features, x = NgramFeatures.fit_matrix(sample.texts)
    views = NgramViews.fit(features, x, sample.categories, sample.urgency, pause)
    x = x[sample.scope_rows]
    texts = sample.scope_texts()
    words = scope_words() if scope_words is not None else \
        [words_and_tokens(t, segmenter)[0] for t in texts]
    scope = ScopeView.train(features, texts, sample.scope_off(), words, segmenter=segmenter,
                            x=x)
    return {**views.to_arrays(), **scope.to_arrays()}


def _sample_rows(articles, offtopic: list[str]) -> tuple[list[tuple[str, str, str]], list[int]]:
    """The n-gram views' training lines (text, category, urgency): every article's examples
    then its urgent lines, article by article, then the off-topic lines, capped per class
    (``_sample_indexes``); and the scope view's lines, as indexes into them: the same sample,
    in the order it has always been trained in (every example, then every urgent line, then
    the off-topic lines), capped (``scope.training_lines``). A class holds lines of one kind
    (an urgent line's urgency is never "no"; off-topic lines come last in both orders), in
    the same order either way, so one sample serves both."""
    lines: list[tuple[str, str, str]] = []
    urgent = bytearray()   # per line: 1 for an urgent line
    for a in articles:
        lines += [(ex, a.category, "no") for ex in a.examples]
        lines += [(ex, a.category, kind) for ex, kind in a.urgent_examples]
        urgent += bytes(len(a.examples)) + b"\1" * len(a.urgent_examples)
    cases = len(lines)
    lines += [(q, NONE, "no") for q in offtopic]
    keep = _sample_indexes(lines, TRAIN_LINES_PER_CLASS, OFFTOPIC_LINES_LIMIT, TRAIN_LINES_TOTAL)
    row = {i: r for r, i in enumerate(keep)}
    scope_order = [row[i] for i in sorted(keep, key=lambda i: 2 if i >= cases else urgent[i])]
    sample = [lines[i] for i in keep]
    scope_rows = scope_training_rows([(sample[r][0], sample[r][1] == NONE) for r in scope_order])
    return sample, [scope_order[k] for k in scope_rows]


def _sample_indexes(lines: list[tuple[str, str, str]], limit: int,
                    none_limit: int | None = None, total: int | None = None) -> list[int]:
    """The indexes of at most ``limit`` lines of each (category, urgency) class, ascending:
    training cost grows with the lines (10,000 synthetic articles, 90,000 lines: 11 s
    features + 20 s SVMs, more than all the tokenising). A class over the limit keeps the
    lines with the smallest text digests, so a publish changes the sample only at the
    margin. The bank's classes are far below the limit (tested), so its models are
    unchanged; what the limit costs a real bank that large is not measured (we have none).
    ``none_limit``: the limit of the off-topic class (``none``, not urgent), if it has its
    own. ``total``: at most this many lines of the other classes in all (``_class_cap``)."""
    by_class: dict[tuple[str, str], list[int]] = {}
    for i, (_, category, urgency) in enumerate(lines):
        by_class.setdefault((category, urgency), []).append(i)
    own_limit = none_limit is not None
    if total is not None:
        limit = _class_cap([len(m) for key, m in by_class.items()
                            if not (own_limit and key == (NONE, "no"))], limit, total)
    keep = []
    for key, members in by_class.items():
        cap = none_limit if own_limit and key == (NONE, "no") else limit
        if len(members) > cap:
            members = sorted(members, key=lambda i: (
                hashlib.blake2b(lines[i][0].encode("utf-8"), digest_size=8).digest(), i))[:cap]
        keep += members
    return sorted(keep)


def _class_cap(sizes: list[int], limit: int, total: int) -> int:
    """The largest per-class limit, at most ``limit``, at which classes of these sizes keep at
    most ``total`` lines in all: training cost stays bounded however many classes are near the
    limit, and the classes below the cap keep every line."""
    def kept(cap: int) -> int:
        return sum(min(n, cap) for n in sizes)

    if kept(limit) <= total:
        return limit
    low, high = 0, limit   # kept(low) <= total < kept(high)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if kept(mid) <= total else (low, mid)
    return low


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
