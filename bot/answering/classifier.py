"""A second, differently built view of a message: linear models over character n-grams.

Retrieval (engine.py) compares a message with documents through jieba words; these models read
the characters themselves (1- to 3-grams, so a typo or a segmentation slip costs one n-gram,
not the word) and weigh them by what the bank's labelled lines taught them. Two models share one
feature space: the scam category (examples and urgent lines of each article, off-topic lines as
``none``) and urgency (``no`` / ``in_progress`` / ``lost``: every plain example and off-topic
line is ``no``, every ``urgent_examples`` line its kind).

Trained with scikit-learn (linear SVMs, ~0.3 s) when the engine is built, imported only there;
answered with numpy alone: the message's n-gram ids gather rows of the weight matrix, one sum,
one softmax. scikit-learn's own ``decision_function`` costs ~0.5 ms a call.

Answering never builds n-gram strings: every CJK n-gram is a 64-bit key (its code points, 21
bits each: ``gram_key``), the vocabulary's keys are one sorted array, and a message's keys are
computed and looked up in bulk (``NgramFeatures.ids``: a dozen numpy calls whatever the length).
``char_ngrams`` stays as the readable definition the fast path is tested against. A message's
features are in ascending id order (the canonical order, in training and answering alike).
The fitted model is nothing but arrays (``to_arrays`` / ``from_arrays``), so an index built
elsewhere can carry it.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .text import mask_for_matching, mask_many

NGRAM_SIZES = (1, 2, 3)
# Softmax sharpness of the SVM margins, calibrated by bank cross-validation (bench/cv_engine.py).
CATEGORY_SHARPNESS = 8.0
URGENCY_SHARPNESS = 4.0
_RUN_RE = re.compile(r"[\u4e00-\u9fff]+|[a-z0-9]+")
_OPEN, _CLOSE = ord("<"), ord(">")
_BITS = 21   # a code point fits in 21 bits; three of them in an int64
_SENTINEL = np.iinfo(np.int64).max
# 1 + log(tf) for every count a message can have (2000 characters, three n-gram sizes).
_SUBLINEAR_TF = (np.float32(1.0) + np.log(np.arange(6002, dtype=np.float32).clip(1)))


def gram_key(gram: str) -> int:
    """The integer key of a CJK n-gram (1-3 characters, '<' '>' edges included). Keys of
    different lengths never collide: a 2-gram starts with '<' or a CJK character, so its key is
    at least ord('<') << 21, above every 1-gram's; likewise 3-grams above every 2-gram's."""
    key = 0
    for ch in gram:
        key = (key << _BITS) | ord(ch)
    return key


def _gram_keys(cjk_runs: list[str]) -> np.ndarray:
    """Keys of the 1-3-grams of every CJK run, as ``char_ngrams`` lists them (the order
    differs; counts are the same), plus keys that can never be known: the runs are padded and
    joined ('<ab><c>') and every 1-, 2- and 3-gram of the whole string is taken; those that
    cross a run's edge ('><', 'b><', '><c') or are a bare edge ('<') are never in a vocabulary
    made by ``char_ngrams``, so the lookup drops them without a mask."""
    cp = np.frombuffer(("<" + "><".join(cjk_runs) + ">").encode("utf-32-le"),
                       dtype=np.uint32).astype(np.int64)
    bi = (cp[:-1] << _BITS) | cp[1:]
    return np.concatenate((cp, bi, (bi[:-1] << _BITS) | cp[2:]))


def char_ngrams(normalized: str) -> list[str]:
    """Character 1-3-grams of each CJK run (with '<' and '>' marking the run's edges, so
    '先交' at the start of a clause differs from inside one), and ASCII words whole."""
    grams: list[str] = []
    for run in _RUN_RE.findall(mask_for_matching(normalized)):
        if run.isascii():
            grams.append(run)
            continue
        padded = f"<{run}>"
        for n in NGRAM_SIZES:
            source = run if n == 1 else padded
            grams.extend(source[i:i + n] for i in range(len(source) - n + 1))
    return grams


class NgramFeatures:
    """Vocabulary and IDF: a message becomes (feature ids, weights), sublinear TF-IDF of unit
    length. Built from the training lines; n-grams seen fewer than ``min_df`` times are dropped.
    ``keys`` (sorted) and ``key_ids`` are the CJK n-grams' integer keys and their ids;
    ``words`` the ASCII words' ids (a handful: 'app', 'qq', 'qty'...)."""

    def __init__(self, vocab: list[str], idf: np.ndarray, keys: np.ndarray | None = None,
                 key_ids: np.ndarray | None = None):
        self.vocab_list = vocab
        self.idf = idf
        self.words = {g: i for i, g in enumerate(vocab) if g.isascii()}
        if keys is None:   # sorted keys, then a sentinel above every key: a lookup never
            #                  falls off the end
            pairs = sorted((gram_key(g), i) for i, g in enumerate(vocab) if not g.isascii())
            keys = np.asarray([k for k, _ in pairs] + [_SENTINEL], dtype=np.int64)
            key_ids = np.asarray([i for _, i in pairs] + [-1], dtype=np.int32)
        self.keys, self.key_ids = keys, key_ids

    @property
    def vocab(self) -> dict[str, int]:
        return {g: i for i, g in enumerate(self.vocab_list)}

    @classmethod
    def fit(cls, texts: list[str], min_df: int = 2,
            table: "_GramTable | None" = None) -> "NgramFeatures":
        """The n-grams of at least ``min_df`` texts (document frequency as ``char_ngrams``
        counts it), found as integer keys in numpy (``_GramTable``), not as strings."""
        table = table or _GramTable(texts)
        keys, df = table.document_frequency()
        keys, df = keys[df >= min_df], df[df >= min_df]
        cjk = _grams_of(keys)
        grams = dict(zip(cjk, df.tolist()))
        words = Counter(w for ws in table.words for w in set(ws))
        grams.update((w, d) for w, d in words.items() if d >= min_df)
        kept = sorted(grams)
        n = len(texts)
        idf = np.asarray([math.log((1 + n) / (1 + grams[g])) + 1.0 for g in kept],
                         dtype=np.float32)
        index = {g: i for i, g in enumerate(kept)}
        key_ids = np.asarray([index[g] for g in cjk] + [-1], dtype=np.int32)
        return cls(kept, idf, np.append(keys, _SENTINEL).astype(np.int64), key_ids)

    @classmethod
    def fit_matrix(cls, texts: list[str]) -> tuple["NgramFeatures", object]:
        """``fit`` and the training matrix (``matrix``) of the same texts, their n-grams
        found once."""
        table = _GramTable(texts)
        features = cls.fit(texts, table=table)
        return features, features.matrix(texts, table=table)

    def ids(self, normalized: str, masked: str | None = None) -> np.ndarray:
        """Feature ids of every known n-gram of the message, one per occurrence (unsorted).
        ``masked``: ``mask_for_matching(normalized)`` if the caller has it."""
        cjk, found = [], []
        if masked is None:
            masked = mask_for_matching(normalized)
        for run in _RUN_RE.findall(masked):
            if not run.isascii():
                cjk.append(run)
            elif run in self.words:
                found.append(self.words[run])
        if not cjk:
            return np.asarray(found, dtype=np.int32)
        keys = _gram_keys(cjk)
        keys.sort()   # ascending needles: each binary search starts where the last ended
        pos = self.keys.searchsorted(keys)
        hits = self.key_ids[pos[self.keys[pos] == keys]]
        return np.concatenate((hits, np.asarray(found, dtype=np.int32))) if found else hits

    def vector(self, normalized: str, masked: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids ascending, weights): sublinear TF-IDF of unit length. Counting by sorting
        (np.unique costs ~25 µs on a short message; this ~5)."""
        ids = self.ids(normalized, masked)
        n = len(ids)
        if not n:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        ids.sort()
        starts = np.empty(n + 1, bool)   # where a run of equal ids starts, and the end
        starts[0] = starts[n] = True
        np.not_equal(ids[1:], ids[:-1], out=starts[1:n])
        bounds = np.flatnonzero(starts)
        tf = bounds[1:] - bounds[:-1]
        ids = ids[bounds[:-1]]
        w = _SUBLINEAR_TF[np.minimum(tf, len(_SUBLINEAR_TF) - 1)] * self.idf[ids]
        w /= np.float32(math.sqrt(float(w @ w)))
        return ids, w

    def matrix(self, texts: list[str], table: "_GramTable | None" = None):
        """The training matrix (scipy CSR): row i is ``vector(texts[i])``, the same numbers
        training and answering see, computed for all texts at once (each row's length is
        still one ``w @ w`` of its own, as ``vector`` rounds it)."""
        from scipy.sparse import csr_matrix

        table = table or _GramTable(texts)
        pos = self.keys.searchsorted(table.keys)
        known = self.keys[pos] == table.keys
        ids = self.key_ids[pos[known]]
        rows = table.rows[known]
        extra = [(r, self.words[w]) for r, ws in enumerate(table.words) for w in ws
                 if w in self.words]
        if extra:
            rows = np.concatenate((rows, np.asarray([r for r, _ in extra], np.int64)))
            ids = np.concatenate((ids, np.asarray([i for _, i in extra], np.int32)))
        # By row, then feature id: one sort of (row, id) as one integer, sorted itself (no
        # argsort and gathers; numpy's stable sort of these nearly sorted keys is several
        # times faster than its default sort or a two-key lexsort).
        width = max(len(self.vocab_list), 1)
        entry = rows * width + ids
        entry.sort(kind="stable")
        n = len(entry)
        starts = np.empty(n + 1, bool)              # where a run of one (row, id) starts
        starts[0] = starts[n] = True
        np.not_equal(entry[1:], entry[:-1], out=starts[1:n])
        bounds = np.flatnonzero(starts)
        tf = bounds[1:] - bounds[:-1]
        rows, ids = np.divmod(entry[bounds[:-1]], width)
        data = _SUBLINEAR_TF[np.minimum(tf, len(_SUBLINEAR_TF) - 1)] * self.idf[ids]
        indptr = np.zeros(len(texts) + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=len(texts)), out=indptr[1:])
        for lo, hi in zip(indptr[:-1].tolist(), indptr[1:].tolist()):
            if hi > lo:
                w = data[lo:hi]
                w /= np.float32(math.sqrt(float(w @ w)))
        return csr_matrix((data, ids.astype(np.int32), indptr),
                          shape=(len(texts), len(self.vocab_list)), dtype=np.float32)


class _GramTable:
    """Every CJK n-gram occurrence of some texts as (row, key), in numpy, and each text's
    ASCII words: what ``char_ngrams`` lists, for fitting and building the training matrix
    without a string per n-gram. The texts' runs are padded and joined as in
    ``_gram_keys``; the n-grams that cross an edge (they contain '><') or are a bare edge
    are dropped."""

    def __init__(self, texts: list[str]):
        joined, lengths, self.words = [], [], []
        for t in mask_many(texts):
            cjk, words = [], []
            for run in _RUN_RE.findall(t):
                (words if run.isascii() else cjk).append(run)
            padded = "<" + "><".join(cjk) + ">" if cjk else ""
            joined.append(padded)
            lengths.append(len(padded))
            self.words.append(words)
        cp = np.frombuffer("".join(joined).encode("utf-32-le"), np.uint32).astype(np.int64)
        row = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        bi = (cp[:-1] << _BITS) | cp[1:]
        edge = (cp[:-1] == _CLOSE) & (cp[1:] == _OPEN)     # '><': between two runs or texts
        uni_ok = (cp != _OPEN) & (cp != _CLOSE)
        tri_ok = ~(edge[:-1] | edge[1:])
        self.keys = np.concatenate((cp[uni_ok], bi[~edge], ((bi[:-1] << _BITS) | cp[2:])[tri_ok]))
        self.rows = np.concatenate((row[uni_ok], row[:-1][~edge], row[:-2][tri_ok]))

    def document_frequency(self) -> tuple[np.ndarray, np.ndarray]:
        """(keys ascending, number of texts each occurs in)."""
        order = np.argsort(self.keys, kind="stable")   # (runs of equal keys: faster here)
        sorted_keys = self.keys[order]
        first = np.ones(len(sorted_keys), bool)
        np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=first[1:])
        keys = sorted_keys[first]
        dense = np.empty(len(order), np.int64)      # each occurrence's index in keys
        dense[order] = np.cumsum(first) - 1
        pairs = np.sort(self.rows * max(len(keys), 1) + dense)   # (row, key) pairs, sorted
        once = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))] if len(pairs) else pairs
        return keys, np.bincount(once % max(len(keys), 1), minlength=len(keys))


def _grams_of(keys: np.ndarray) -> list[str]:
    """The n-grams of ascending keys (``gram_key`` inverted): 1-grams, then 2-, then 3-grams,
    as keys of different lengths sort."""
    out: list[str] = []
    mask = (1 << _BITS) - 1
    bounds = np.searchsorted(keys, [0, 1 << _BITS, 1 << (2 * _BITS), np.iinfo(np.int64).max])
    for n in NGRAM_SIZES:
        group = keys[bounds[n - 1]:bounds[n]]
        cp = np.stack([(group >> (_BITS * (n - 1 - i))) & mask for i in range(n)], axis=1)
        text = cp.astype(np.uint32).tobytes().decode("utf-32-le")
        out += [text[i:i + n] for i in range(0, len(text), n)]
    return out


@dataclass
class LinearModel:
    """A linear SVM (one-vs-rest); margins x·W + b become probabilities by a softmax whose
    sharpness was calibrated by cross-validation on the bank (bench/cv_engine.py)."""
    classes: tuple[str, ...]
    weights: np.ndarray   # (features, classes) float32
    bias: np.ndarray      # (classes,) float32
    sharpness: float = 4.0

    @classmethod
    def fit(cls, x, labels: list[str], c: float = 0.5, sharpness: float = 4.0,
            balanced: bool = False) -> "LinearModel":
        from sklearn.svm import LinearSVC

        model = LinearSVC(C=c, max_iter=5000, random_state=0,
                          class_weight="balanced" if balanced else None).fit(x, labels)
        coef = np.asarray(model.coef_, dtype=np.float32)
        bias = np.asarray(model.intercept_, dtype=np.float32)
        if len(model.classes_) == 2:   # sklearn keeps one row for two classes
            coef = np.vstack([-coef, coef])
            bias = np.asarray([-bias[0], bias[0]], dtype=np.float32)
        return cls(tuple(str(k) for k in model.classes_), np.ascontiguousarray(coef.T), bias,
                   sharpness)

    def margins(self, ids: np.ndarray, w: np.ndarray) -> np.ndarray:
        return self.bias + w @ self.weights[ids] if len(ids) else self.bias.copy()

    def probabilities(self, ids: np.ndarray, w: np.ndarray) -> np.ndarray:
        return _softmax(self.margins(ids, w), self.sharpness)


def _softmax(z: np.ndarray, sharpness: float) -> np.ndarray:
    z = np.exp(sharpness * (z - z.max()))
    return z / z.sum()


class NgramViews:
    """The category and urgency models over one shared feature space."""

    def __init__(self, features: NgramFeatures, category: LinearModel, urgency: LinearModel):
        self.features = features
        self.category = category
        self.urgency = urgency
        # Both models' weights side by side: one gather and one product per message.
        self._joint = np.hstack((category.weights, urgency.weights))
        self._joint_bias = np.concatenate((category.bias, urgency.bias))
        self._split = len(category.classes)

    @classmethod
    def train(cls, texts: list[str], categories: list[str],
              urgency: list[str], pause=None) -> "NgramViews":
        """Normalised lines with their category and urgency labels (``no``, ``in_progress``,
        ``lost``). Deterministic: same lines, same arrays. ``pause``: called between the two
        models (an index build's training process waits there for the tokenising)."""
        return cls.fit(*NgramFeatures.fit_matrix(texts), categories, urgency, pause)

    @classmethod
    def fit(cls, features: NgramFeatures, x, categories: list[str], urgency: list[str],
            pause=None) -> "NgramViews":
        """``train`` on the lines' features and training matrix (``NgramFeatures.fit_matrix``),
        which an index build shares with the scope view."""
        category = LinearModel.fit(x, categories, sharpness=CATEGORY_SHARPNESS)
        if pause is not None:
            pause()
        return cls(features, category,
                   LinearModel.fit(x, urgency, sharpness=URGENCY_SHARPNESS, balanced=True))

    def judge(self, normalized: str, masked: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(category probabilities in ``category.classes`` order, urgency probabilities)."""
        return self.judge_vector(*self.features.vector(normalized, masked))

    def judge_vector(self, ids: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``judge`` of a message's ``features.vector`` (computed once, shared with the scope
        view)."""
        z = self._joint_bias + w @ self._joint[ids] if len(ids) else self._joint_bias
        return (_softmax(z[:self._split], self.category.sharpness),
                _softmax(z[self._split:], self.urgency.sharpness))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything as plain arrays (vocabulary as one '\\n'-joined string); scalars as
        one-element arrays, which survive ``np.load(mmap_mode="r")`` (a 0-d one does not)."""
        f = self.features
        out = {"vocab": np.asarray(["\n".join(f.vocab_list)]), "idf": f.idf,
               "gram_keys": f.keys, "gram_ids": f.key_ids}
        for name, m in (("category", self.category), ("urgency", self.urgency)):
            out[f"{name}_classes"] = np.asarray(["\n".join(m.classes)])
            out[f"{name}_weights"] = m.weights
            out[f"{name}_bias"] = m.bias
            out[f"{name}_sharpness"] = np.asarray([m.sharpness])
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "NgramViews":
        vocab = str(arrays["vocab"].item()).split("\n")
        features = NgramFeatures(vocab, arrays["idf"], arrays["gram_keys"], arrays["gram_ids"])
        models = [LinearModel(tuple(str(arrays[f"{n}_classes"].item()).split("\n")),
                              arrays[f"{n}_weights"], arrays[f"{n}_bias"],
                              float(arrays[f"{n}_sharpness"].item()))
                  for n in ("category", "urgency")]
        return cls(features, *models)
