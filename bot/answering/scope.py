"""Is this message about a scam at all? A binary view (``scam`` / ``none``) beside the
multi-class ones.

The category views ask "which of 95 categories", and their ``none`` is one class among many: a
real procedure that shares words with a scam (学校让交伙食费, 征信报告怎么打, 快递丢件理赔) often
has a scam category just above it. This view is trained on the only question that matters for
the menu: every case line (plain and urgent) against every off-topic line, classes balanced,
over the category model's character n-grams plus a few cues of who acts in the message: a
stranger contacting the writer (对方/他说/让我/打电话来/发来链接) or the writer's own errand
(我想办/去哪办/在…APP里/柜台). triage.decide uses its probability as a second opinion before
naming a scam type that no rule (money request, fraud words) already demands.

Trained with scikit-learn at build time (with the n-gram views, on their feature space: no
second vocabulary), answered with numpy: one gather over the message's n-gram ids, the cue
regexes, one logistic squash. Nothing but arrays (``to_arrays`` / ``from_arrays``).
"""
from __future__ import annotations

import hashlib
import math
import re

import numpy as np

from .classifier import NgramFeatures

SCOPE_C = 0.5           # SVM regularisation (bench/cv_engine.py --scope)
SCOPE_SHARPNESS = 3.0   # logistic sharpness of the margin: P(none) = σ(s·margin)
CUE_WEIGHT = 0.3        # a cue's feature value beside the unit-length n-gram vector
KNOWN_LINE_SCORE = 0.9  # a message this close to a line of the bank (best document's cosine)
#                         is answered as that line is labelled: an editor's 加为例句 must hold
MAX_CASE_LINES = 8000   # case lines trained on (the bank has ~5,800: all of them); at 10,000
#                         synthetic articles the full sample cost 3 s, this ~0.5 s

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


class ScopeView:
    """A linear SVM over (n-gram TF-IDF, cues); margin > 0 means off-topic."""

    def __init__(self, features: NgramFeatures, weights: np.ndarray, cue_weights: np.ndarray,
                 bias: float, sharpness: float = SCOPE_SHARPNESS):
        self.features = features
        self.weights = weights            # (n-gram features,) float32
        self.cue_weights = cue_weights    # (cues,) float32
        self.bias = float(bias)
        self.sharpness = sharpness

    @classmethod
    def train(cls, features: NgramFeatures, texts: list[str], off_topic: list[bool],
              c: float = SCOPE_C) -> "ScopeView":
        """Normalised lines and whether each is off-topic. Deterministic (liblinear, fixed
        seed). Imports scikit-learn (build only)."""
        from scipy.sparse import csr_matrix, hstack
        from sklearn.svm import LinearSVC

        x = features.matrix(texts)
        cues = csr_matrix(np.vstack([cue_vector(t) for t in texts]) * CUE_WEIGHT)
        y = np.asarray(off_topic, dtype=int)
        model = LinearSVC(C=c, max_iter=5000, random_state=0,
                          class_weight="balanced").fit(hstack([x, cues]).tocsr(), y)
        coef = np.asarray(model.coef_[0], dtype=np.float32)
        n = x.shape[1]
        return cls(features, np.ascontiguousarray(coef[:n]), coef[n:] * CUE_WEIGHT,
                   float(model.intercept_[0]))

    def margin(self, normalized: str, ids: np.ndarray | None = None,
               w: np.ndarray | None = None) -> float:
        """> 0: off-topic. ``ids, w``: the message's ``features.vector`` if already made (the
        engine makes it once for the n-gram views and this one)."""
        if ids is None:
            ids, w = self.features.vector(normalized)
        z = self.bias
        for (_, pattern), weight in zip(CUES, self.cue_weights):
            if pattern.search(normalized):
                z += float(weight)
        return z + float(w @ self.weights[ids]) if len(ids) else z

    def off_topic_probability(self, normalized: str, ids: np.ndarray | None = None,
                              w: np.ndarray | None = None) -> float:
        return probability(self.margin(normalized, ids, w), self.sharpness)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"scope_weights": self.weights, "scope_cue_weights": self.cue_weights,
                "scope_bias": np.asarray([self.bias]),
                "scope_sharpness": np.asarray([self.sharpness])}

    @classmethod
    def from_arrays(cls, features: NgramFeatures, arrays) -> "ScopeView":
        return cls(features, arrays["scope_weights"], arrays["scope_cue_weights"],
                   float(arrays["scope_bias"][0]), float(arrays["scope_sharpness"][0]))


def training_lines(lines: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """(text, off-topic) lines to train on, in their order: every off-topic line and at most
    ``MAX_CASE_LINES`` case lines, those with the smallest text digests (a publish moves the
    sample only at the margin)."""
    case = [i for i, (_, off) in enumerate(lines) if not off]
    if len(case) > MAX_CASE_LINES:
        dropped = set(sorted(case, key=lambda i: (hashlib.blake2b(
            lines[i][0].encode("utf-8"), digest_size=8).digest(), i))[MAX_CASE_LINES:])
        lines = [ln for i, ln in enumerate(lines) if i not in dropped]
    return lines


def probability(margin: float, sharpness: float) -> float:
    return 1.0 / (1.0 + math.exp(-sharpness * margin))
