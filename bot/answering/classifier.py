"""A second, differently built view of a message: linear models over character n-grams.

Retrieval (engine.py) compares a message with documents through jieba words; these models read
the characters themselves (1- to 3-grams, so a typo or a segmentation slip costs one n-gram,
not the word) and weigh them by what the bank's labelled lines taught them. Two models share one
feature space: the scam category (examples and urgent lines of each article, off-topic lines as
``none``) and urgency (``no`` / ``in_progress`` / ``lost``: every plain example and off-topic
line is ``no``, every ``urgent_examples`` line its kind).

Trained with scikit-learn (linear SVMs, ~0.3 s) when the engine is built, imported only there;
answered with numpy alone: the message's n-gram ids gather rows of the weight matrix, one sum,
one softmax. scikit-learn's own ``decision_function`` costs ~0.5 ms a call; this costs ~30 µs.
The fitted model is nothing but arrays (``to_arrays`` / ``from_arrays``), so an index built
elsewhere can carry it.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .text import mask_for_matching

NGRAM_SIZES = (1, 2, 3)
# Softmax sharpness of the SVM margins, calibrated by bank cross-validation (bench/cv_engine.py).
CATEGORY_SHARPNESS = 8.0
URGENCY_SHARPNESS = 4.0
_RUN_RE = re.compile(r"[\u4e00-\u9fff]+|[a-z0-9]+")


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


@dataclass
class NgramFeatures:
    """Vocabulary and IDF: a message becomes (feature ids, weights), sublinear TF-IDF of unit
    length. Built from the training lines; n-grams seen fewer than ``min_df`` times are dropped."""
    vocab: dict[str, int]
    idf: np.ndarray

    @classmethod
    def fit(cls, texts: list[str], min_df: int = 2) -> "NgramFeatures":
        df = Counter(g for t in texts for g in set(char_ngrams(t)))
        kept = sorted(g for g, d in df.items() if d >= min_df)
        n = len(texts)
        idf = np.asarray([math.log((1 + n) / (1 + df[g])) + 1.0 for g in kept], dtype=np.float32)
        return cls({g: i for i, g in enumerate(kept)}, idf)

    def vector(self, normalized: str) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(self.vocab[g] for g in char_ngrams(normalized) if g in self.vocab)
        if not counts:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        ids = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        w = (1.0 + np.log(tf)) * self.idf[ids]
        return ids, w / np.float32(np.sqrt(float(w @ w)))

    def matrix(self, texts: list[str]):
        """The training matrix (scipy CSR), built with ``vector`` so training and answering
        see exactly the same numbers."""
        from scipy.sparse import csr_matrix

        indptr, indices, data = [0], [], []
        for t in texts:
            ids, w = self.vector(t)
            indices.append(ids)
            data.append(w)
            indptr.append(indptr[-1] + len(ids))
        return csr_matrix((np.concatenate(data), np.concatenate(indices), np.asarray(indptr)),
                          shape=(len(texts), len(self.vocab)), dtype=np.float32)


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
        z = self.margins(ids, w)
        z = np.exp(self.sharpness * (z - z.max()))
        return z / z.sum()


class NgramViews:
    """The category and urgency models over one shared feature space."""

    def __init__(self, features: NgramFeatures, category: LinearModel, urgency: LinearModel):
        self.features = features
        self.category = category
        self.urgency = urgency

    @classmethod
    def train(cls, texts: list[str], categories: list[str],
              urgency: list[str]) -> "NgramViews":
        """Normalised lines with their category and urgency labels (``no``, ``in_progress``,
        ``lost``). Deterministic: same lines, same arrays."""
        features = NgramFeatures.fit(texts)
        x = features.matrix(texts)
        return cls(features,
                   LinearModel.fit(x, categories, sharpness=CATEGORY_SHARPNESS),
                   LinearModel.fit(x, urgency, sharpness=URGENCY_SHARPNESS, balanced=True))

    def judge(self, normalized: str) -> tuple[np.ndarray, np.ndarray]:
        """(category probabilities in ``category.classes`` order, urgency probabilities)."""
        ids, w = self.features.vector(normalized)
        return self.category.probabilities(ids, w), self.urgency.probabilities(ids, w)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything as plain arrays (vocabulary as one '\\n'-joined string); scalars as
        one-element arrays, which survive ``np.load(mmap_mode="r")`` (a 0-d one does not)."""
        vocab = sorted(self.features.vocab, key=self.features.vocab.get)
        out = {"vocab": np.asarray(["\n".join(vocab)]), "idf": self.features.idf}
        for name, m in (("category", self.category), ("urgency", self.urgency)):
            out[f"{name}_classes"] = np.asarray(["\n".join(m.classes)])
            out[f"{name}_weights"] = m.weights
            out[f"{name}_bias"] = m.bias
            out[f"{name}_sharpness"] = np.asarray([m.sharpness])
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "NgramViews":
        vocab = str(arrays["vocab"].item()).split("\n")
        features = NgramFeatures({g: i for i, g in enumerate(vocab)}, arrays["idf"])
        models = [LinearModel(tuple(str(arrays[f"{n}_classes"].item()).split("\n")),
                              arrays[f"{n}_weights"], arrays[f"{n}_bias"],
                              float(arrays[f"{n}_sharpness"].item()))
                  for n in ("category", "urgency")]
        return cls(features, *models)
