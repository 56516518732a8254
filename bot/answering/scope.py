"""Is this message about a scam at all? A binary view (``scam`` / ``none``) beside the
multi-class ones.

The category views ask "which of 95 categories", and their ``none`` is one class among many: a
real procedure that shares words with a scam (学校让交伙食费, 征信报告怎么打, 快递丢件理赔) often
has a scam category just above it. This view is trained on the only question that matters for
the menu: every case line (plain and urgent) against every off-topic line, classes balanced,
over the category model's character n-grams, the words of our segmenter (unigrams and
bigrams of the cut the retrieval makes, single characters and stopwords kept: 他 让 我 and
我 想 tell who acts), plus a few cues of who acts in the message: a stranger
contacting the writer (对方/他说/让我/打电话来/发来链接) or the writer's own errand
(我想办/去哪办/在…APP里/柜台). triage.decide uses its probability as a second opinion before
naming a scam type that no rule (money request, fraud words) already demands.

Trained with scikit-learn at build time (with the n-gram views, on their feature space plus a
word vocabulary of its own), answered with numpy: one gather over the message's n-gram ids,
one lookup of its word features in a sorted array (the words are the cut the retrieval
made: no second segmentation), the cue regexes, one logistic squash. Nothing but arrays
(``to_arrays`` / ``from_arrays``).
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import Counter

import numpy as np

from .classifier import NgramFeatures
from .text import Segmenter, words_and_tokens

SCOPE_C = 0.5           # SVM regularisation (bench/cv_engine.py --scope)
SCOPE_SHARPNESS = 3.0   # logistic sharpness of the margin: P(none) = σ(s·margin)
CUE_WEIGHT = 0.3        # a cue's feature value beside the unit-length n-gram vector
WORD_WEIGHT = 1.0       # length of the word features' vector beside the n-gram vector
WORD_MIN_DF = 2         # a word feature of fewer training lines is dropped
KNOWN_LINE_SCORE = 0.9  # a message this close to a line of the bank (best document's cosine)
#                         is answered as that line is labelled: an editor's 加为例句 must hold
CASE_WORD_MIN_DF = 2    # a word of at least this many case lines and of no off-topic line is
#                         one "of the cases" (``Engine.names_a_scam``)
MAX_CASE_LINES = 23000  # case lines trained on (the bank has ~20,100: all of them); at 10,000
#                         synthetic articles the full sample cost 3 s, 8,000 lines ~0.5 s

# (name, pattern): who acts. Cue features, not rules: the model weighs them.
CUES: tuple[tuple[str, re.Pattern], ...] = (
    ("stranger", re.compile(
        r"对方|那人|那个人|陌生|有人(?:打|发|加|给|说|让|叫|找)|自称|说是|他说|她说|他们说|他让|她让|"
        r"他叫|她叫|(?:让|叫|要)我|(?:打|来)(?:电话|视频)|打来|来电|发来|发给我|发了个|加我|拉我|"
        r"链接|网址|二维码|短信说|通知说我|客服说")),
    ("errand", re.compile(
        r"我想(?:办|问|查|交|申请|开|换|买|改|知道)|怎么(?:办理|交|查|申请|弄|开通|换|改|用|取消|关)|"
        r"去哪|在哪|哪里(?:办|交|查|能|可以)|柜台|窗口|营业厅|现场|官方(?:app|客服|渠道|网站)|官网|"
        r"app里|小程序里|自己(?:去|在|申请|办|交|打)")),
    ("question", re.compile(r"是什么|什么意思|啥意思|有没有|能不能|可以吗|要不要|多久|多少钱|哪个")),
    ("past_event", re.compile(r"(?:了|过)[^，。！？,.!?\s]{0,6}(?:钱|款|验证码|密码)|今天|刚才|刚刚|昨天")),
)


def cue_vector(normalized: str) -> np.ndarray:
    """0/1 per cue, in ``CUES`` order."""
    return np.asarray([1.0 if p.search(normalized) else 0.0 for _, p in CUES],
                      dtype=np.float32)


def word_features(words: list[str]) -> list[str]:
    """The word features of a message's words (``text.words_and_tokens``): each word and
    each pair of neighbouring words, 'a b' (a word never holds a space)."""
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


class WordFeatures:
    """Word unigrams and bigrams: a sorted vocabulary (saved as an array) and IDF; a message
    becomes {feature id: weight}, sublinear TF-IDF of unit length, like the n-gram vector.
    Looked up in a dict and weighed in plain Python: a message has a dozen or two features,
    and numpy's per-call cost (string arrays, binary search) was ~25 µs a message. The dict
    and lists cost a worker about 3 MB for the bank's 15,000 features (the training sample is
    capped, so the vocabulary is too)."""

    def __init__(self, vocab: np.ndarray, idf: np.ndarray):
        self.vocab = vocab    # sorted ('<U…')
        self.idf = idf        # float32
        self._index = {f: i for i, f in enumerate(vocab.tolist())}
        self._idf = idf.tolist()

    @classmethod
    def fit(cls, features: list[list[str]], min_df: int = WORD_MIN_DF) -> "WordFeatures":
        df = Counter(f for fs in features for f in set(fs))
        kept = sorted(f for f, d in df.items() if d >= min_df)
        n = len(features)
        idf = np.asarray([math.log((1 + n) / (1 + df[f])) + 1.0 for f in kept], np.float32)
        width = max([len(f) for f in kept] + [1])
        return cls(np.asarray(kept, dtype=f"<U{width}"), idf)

    def _counts(self, words: list[str]) -> Counter:
        """Feature id -> count of a message's words (``word_features`` of them, known ones)."""
        get = self._index.get
        return Counter(i for i in map(get, word_features(words)) if i is not None)

    def vector(self, words: list[str]) -> dict[int, float]:
        """{feature id: weight} of a message's words (training; ``dot`` answers)."""
        idf = self._idf
        weights = {i: idf[i] if tf == 1 else (1.0 + math.log(tf)) * idf[i]
                   for i, tf in self._counts(words).items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) if weights else 1.0
        return {i: w / norm for i, w in weights.items()}

    def dot(self, words: list[str], coef: list[float]) -> float:
        """``vector(words)`` · ``coef`` in one pass: what answering needs."""
        idf = self._idf
        num = square = 0.0
        for i, tf in self._counts(words).items():
            x = idf[i] if tf == 1 else (1.0 + math.log(tf)) * idf[i]
            num += x * coef[i]
            square += x * x
        return num / math.sqrt(square) if square else 0.0

    def matrix(self, words: list[list[str]]):
        """The training matrix (scipy CSR): row i is ``vector(words[i])``."""
        from scipy.sparse import csr_matrix

        data, indices, indptr = [], [], [0]
        for ws in words:
            row = self.vector(ws)
            data += row.values()
            indices += row.keys()
            indptr.append(len(indices))
        return csr_matrix((np.asarray(data, np.float64), np.asarray(indices, np.int64),
                           indptr), shape=(len(words), len(self.vocab)))


class ScopeView:
    """A linear SVM over (n-gram TF-IDF, word TF-IDF, cues); margin > 0 means off-topic."""

    def __init__(self, features: NgramFeatures, words: WordFeatures, weights: np.ndarray,
                 word_weights: np.ndarray, cue_weights: np.ndarray, bias: float,
                 sharpness: float = SCOPE_SHARPNESS, segmenter: Segmenter | None = None,
                 case_words: np.ndarray | None = None):
        self.features = features
        self.words = words
        self.weights = weights            # (n-gram features,) float32
        self.word_weights = word_weights  # (word features,) float32, WORD_WEIGHT folded in
        self._word_weights = word_weights.tolist()   # read a dozen at a time, in Python
        self.cue_weights = cue_weights    # (cues,) float32
        self.bias = float(bias)
        self.sharpness = sharpness
        self.segmenter = segmenter        # the index's: words when the caller has none
        self.case_words = np.zeros(0, "<U1") if case_words is None else case_words  # sorted

    @classmethod
    def train(cls, features: NgramFeatures, texts: list[str], off_topic: list[bool],
              words: list[list[str]], c: float | None = None,
              word_weight: float | None = None,
              segmenter: Segmenter | None = None, x=None) -> "ScopeView":
        """Normalised lines, whether each is off-topic, and each line's words
        (``words_and_tokens`` with the queries' segmenter). ``c`` and ``word_weight``: ``SCOPE_C`` and
        ``WORD_WEIGHT`` unless given; ``x``: ``features.matrix(texts)``, if the caller has
        its rows (an index build: the n-gram views' training matrix). Deterministic
        (liblinear, fixed seed). Imports scikit-learn (build only)."""
        from scipy.sparse import csr_matrix, hstack
        from sklearn.svm import LinearSVC

        c = SCOPE_C if c is None else c
        word_weight = WORD_WEIGHT if word_weight is None else word_weight

        if x is None:
            x = features.matrix(texts)
        vocabulary = WordFeatures.fit([word_features(ws) for ws in words])
        xw = vocabulary.matrix(words) * word_weight
        cues = csr_matrix(np.vstack([cue_vector(t) for t in texts]) * CUE_WEIGHT)
        y = np.asarray(off_topic, dtype=int)
        model = LinearSVC(C=c, max_iter=5000, random_state=0,
                          class_weight="balanced").fit(hstack([x, xw, cues]).tocsr(), y)
        coef = np.asarray(model.coef_[0], dtype=np.float32)
        n, m = x.shape[1], xw.shape[1]
        return cls(features, vocabulary, np.ascontiguousarray(coef[:n]),
                   np.ascontiguousarray(coef[n:n + m] * np.float32(word_weight)),
                   coef[n + m:] * CUE_WEIGHT, float(model.intercept_[0]), segmenter=segmenter,
                   case_words=case_only_words(words, off_topic))

    def margin(self, normalized: str, ids: np.ndarray | None = None,
               w: np.ndarray | None = None, words: list[str] | None = None) -> float:
        """> 0: off-topic. ``ids, w``: the message's ``features.vector`` and ``words`` its
        words (``words_and_tokens``), if already made (the engine makes the vector once for
        the n-gram views and this one, and cuts the message once for the retrieval and this
        one)."""
        if ids is None:
            ids, w = self.features.vector(normalized)
        if words is None:
            words = words_and_tokens(normalized, self.segmenter)[0]
        z = self.bias
        for (_, pattern), weight in zip(CUES, self.cue_weights):
            if pattern.search(normalized):
                z += float(weight)
        if len(ids):
            z += float(w @ self.weights[ids])
        if words:
            z += self.words.dot(words, self._word_weights)
        return z

    def off_topic_probability(self, normalized: str, ids: np.ndarray | None = None,
                              w: np.ndarray | None = None,
                              words: list[str] | None = None) -> float:
        return probability(self.margin(normalized, ids, w, words), self.sharpness)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"scope_weights": self.weights, "scope_cue_weights": self.cue_weights,
                "scope_word_vocab": self.words.vocab, "scope_word_idf": self.words.idf,
                "scope_word_weights": self.word_weights,
                "scope_bias": np.asarray([self.bias]),
                "scope_sharpness": np.asarray([self.sharpness]),
                "scope_case_words": self.case_words}

    @classmethod
    def from_arrays(cls, features: NgramFeatures, arrays,
                    segmenter: Segmenter | None = None) -> "ScopeView":
        return cls(features, WordFeatures(arrays["scope_word_vocab"], arrays["scope_word_idf"]),
                   arrays["scope_weights"], arrays["scope_word_weights"],
                   arrays["scope_cue_weights"], float(arrays["scope_bias"][0]),
                   float(arrays["scope_sharpness"][0]), segmenter, arrays["scope_case_words"])


def case_only_words(words: list[list[str]], off_topic: list[bool]) -> np.ndarray:
    """The words (two characters or more) of at least ``CASE_WORD_MIN_DF`` case lines and of no
    off-topic line, sorted: words that name something of a scam even in a message too short
    for the views to weigh (triage: ``short_max_chars``)."""
    case = Counter(w for ws, off in zip(words, off_topic) if not off for w in set(ws)
                   if len(w) > 1)
    said_off = {w for ws, off in zip(words, off_topic) if off for w in ws}
    kept = sorted(w for w, d in case.items() if d >= CASE_WORD_MIN_DF and w not in said_off)
    return np.asarray(kept, dtype=f"<U{max([len(w) for w in kept] + [1])}")


def training_lines(lines: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """(text, off-topic) lines to train on, in their order: every off-topic line and at most
    ``MAX_CASE_LINES`` case lines, those with the smallest text digests (a publish moves the
    sample only at the margin)."""
    return [lines[i] for i in training_rows(lines)]


def training_rows(lines: list[tuple[str, bool]]) -> list[int]:
    """The indexes of ``training_lines``' lines, ascending."""
    case = [i for i, (_, off) in enumerate(lines) if not off]
    if len(case) <= MAX_CASE_LINES:
        return list(range(len(lines)))
    dropped = set(sorted(case, key=lambda i: (hashlib.blake2b(
        lines[i][0].encode("utf-8"), digest_size=8).digest(), i))[MAX_CASE_LINES:])
    return [i for i in range(len(lines)) if i not in dropped]


def probability(margin: float, sharpness: float) -> float:
    return 1.0 / (1.0 + math.exp(-sharpness * margin))
