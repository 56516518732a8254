"""Combining the views of a message into one decision: urgent or not (and which emergency),
which scam type, or the menu.

The views: retrieval (engine.py: nearest documents and category centroids over jieba words),
the character n-gram models (classifier.py: category and urgency probabilities), and the rules
(urgency.py: what happened, with explicit vetoes; and whether someone asks for money). Each is
turned into a probability over the same categories and mixed with weights tuned by bank
cross-validation (bench/cv_engine.py), never on the development sets.

Urgency: either view can raise it (a rule signal that no veto cancelled, or the urgency model
above its threshold); a rule veto (negation, near-miss, hearsay, quoted warning, hypothetical,
refund, an instruction not followed) also silences the model, and says so in ``vetoes``.
A message that asks for money or credentials, or speaks of a scam (被骗, 报警, 冒充…), never
gets the menu.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .urgency import Urgency

NONE = "none"
_CJK = re.compile(r"[\u4e00-\u9fff]")
EMERGENCY = "emergency"


@dataclass(frozen=True)
class TriageParams:
    """Decision knobs, tuned by cross-validation on the bank (bench/cv_engine.py --grid)."""
    model_weight: float = 0.7      # share of the n-gram model in the category probability
    retrieval_sharpness: float = 40.0  # softmax temperature⁻¹ turning retrieval scores into odds
    min_probability: float = 0.1   # a scam type needs at least this much, else the menu
    urgent_threshold: float = 0.4  # urgency model: P(in_progress) + P(lost) to raise urgency,
    #                                 false urgent about half a point under the 3% limit (bank
    #                                 CV with 14,168 lines in s20: 0.3 97.1% recall at 2.9% false
    #                                 urgent, 0.35 96.9% at 2.6%, 0.4 96.8% at 2.5%, 0.45 96.4%
    #                                 at 2.3%; sets of new residents' messages run ~0.5 point
    #                                 higher in false urgent than CV)
    money_min_probability: float = 0.05  # a money request names a scam type above this
    vetoes_bind_model: bool = True  # a message-wide veto also silences the urgency model
    model_min_chars: int = 6       # the urgency model alone needs a message this long (Chinese
    #                                characters): a few words are not a story of loss
    rules_max_none: float = 0.7    # a rule-found loss counts unless `none` is this likely
    #                                (bank CV: no urgent line lost at 0.5; off-topic 83 → 82)
    model_max_none: float = 0.5    # the urgency model alone cannot raise urgency when the
    #                                category views give `none` at least this probability
    #                                (bank CV: off-topic lines answered as scam 87 → 83 of 746)
    scope_threshold: float = 0.65  # the scope view (scope.py): a scam type no rule demands
    #                                gives the menu when P(off-topic) is at least this …
    scope_min_none: float = 0.02   # … and the category views give `none` at least this (bank
    #                                CV with the view's word features, off-topic lines answered
    #                                as a scam / scam lines given the menu: 0.0 60/73, 0.002
    #                                62/72, 0.01 64/68; views that are sure of a scam type keep
    #                                it. 0.002 → 0.02 in s18: 快递丢了 客服主动打给我说要理赔, at
    #                                99.6% fake_customer_service, got the menu; the new sets
    #                                of resident messages lost nothing by it, bank CV 49/108 →
    #                                52/105)
    scope_scam_threshold: float = 0.0  # … and the menu becomes a scam type (or `general`)
    #                                when P(off-topic) is at most this. Off (0.0): on four new
    #                                sets of resident messages written without the bank (600
    #                                messages, 92 off-topic) the view read everyday messages
    #                                (天气, 生日祝福, 超市退款) as in scope, and at 0.3 it turned
    #                                15 menus into scam answers and no scam answer the other way
    #                                (top-1 +1.0 to +2.0 points on three sets, same on the
    #                                fourth). Bank CV, whose off-topic lines are the view's own
    #                                kind, says the opposite (scam lines given the menu 70 → 100,
    #                                off-topic answered as a scam 63 → 50 of 940)
    short_max_chars: int = 5       # a message of at most this many Chinese characters that
    #                                names nothing of a scam (no scam term, no word of the
    #                                cases, no link or number: Engine.names_a_scam), asks for no
    #                                money and has no fraud words gets the menu: 有人吗, 收到,
    #                                好的 谢谢 have too few words for the views to weigh (bank
    #                                CV, s18: off-topic lines answered as a scam 78 → 74 of
    #                                1,093, scam lines given the menu 70 either way; 3: 76, 4:
    #                                75, 6 and 8: 74 too)
    short_sure_scope: float = 0.2  # … unless the scope view puts it in scope (P(off-topic) at
    #                                most this) and the category views are sure of a scam type
    short_sure_type: float = 0.95  # (at least this): 举报电话, 咋样防骗 name no case word (one
    #                                is said in an off-topic line). Bank CV, s21: scam lines
    #                                given the menu 159 → 157, nothing else moved, the same at
    #                                every pair of 0.05-0.3 and 0.9-0.99
    scope_spares: tuple[str, ...] = ("official_channels", "report")  # how-tos about the
    #                                anti-fraud services themselves (金钟罩在哪开通, 怎么举报) are
    #                                procedures too, and in scope: the view never sends them to
    #                                the menu (bank CV: no off-topic line more answered as scam,
    #                                one scam line fewer given the menu)


@dataclass(frozen=True)
class Verdict:
    category: str                 # what the answer JSON says: a type, 'emergency' or 'none'
    scam_type: str                # the best non-none category (the article that follows)
    probability: float            # combined probability of scam_type: the answer's "score" (a
    #                               menu answer scores low, as admin's low-confidence list expects)
    urgent: bool
    urgent_kind: str | None       # 'in_progress' | 'lost' | None
    urgent_probability: float     # the urgency model's P(in_progress) + P(lost)
    urgency: Urgency              # the rules' view, with signals and vetoes
    money_request: str | None     # the money/credential request that kept the menu away
    ranking: tuple[tuple[str, float], ...]


def cjk_chars(normalized: str) -> int:
    return len(_CJK.findall(normalized))


def softmax(x: np.ndarray, sharpness: float) -> np.ndarray:
    z = np.exp(sharpness * (x - x.max()))
    return z / z.sum()


def combine(retrieval: np.ndarray, model: np.ndarray, params: TriageParams) -> np.ndarray:
    """Category probabilities from both views (same category order)."""
    p_ret = softmax(retrieval, params.retrieval_sharpness)
    return (1.0 - params.model_weight) * p_ret + params.model_weight * model


def _none_probability(categories: list[str], probs: list[float]) -> float:
    return probs[categories.index(NONE)] if NONE in categories else 0.0


def decide(categories: list[str], retrieval: np.ndarray, model: np.ndarray,
           urgency: Urgency, urgent_probs: dict[str, float], money_request: str | None,
           params: TriageParams, chars: int = 0, off_topic: float | None = None,
           names_a_scam: bool = True) -> Verdict:
    """The verdict; ``off_topic`` is the scope view's P(off-topic) (None: not consulted);
    ``names_a_scam``: whether the message names anything of a scam or is a line of the bank
    (``Engine.names_a_scam``), which a short message needs to get anything but the menu."""
    # The vector in numpy (the same float operations as ever), the rest on a Python list: a
    # numpy call costs more than the Python it replaces on a couple of dozen categories.
    probs = combine(retrieval, model, params).tolist()
    order = sorted(range(len(probs)), key=probs.__getitem__, reverse=True)   # stable
    ranking = tuple((categories[i], round(probs[i], 4)) for i in order[:5])
    best = next((i for i in order if categories[i] != NONE), None)
    scam_type = categories[best] if best is not None else EMERGENCY
    p_type = probs[best] if best is not None else 0.0

    p_urgent = urgent_probs.get("in_progress", 0.0) + urgent_probs.get("lost", 0.0)
    model_kind = "in_progress" if urgent_probs.get("in_progress", 0.0) >= \
        urgent_probs.get("lost", 0.0) else "lost"
    kind = urgency.kind
    p_none = _none_probability(categories, probs)
    if kind == "lost" and not (money_request or urgency.fraud_words) and \
            p_none >= params.rules_max_none:
        kind = None   # 交了电费一百二: a payment in everyday life, not a loss to a scam
    if kind is None and p_urgent >= params.urgent_threshold and \
            chars >= params.model_min_chars and \
            not (params.vetoes_bind_model and urgency.message_vetoes) and \
            (money_request or p_none < params.model_max_none):
        kind = model_kind
        if kind == "lost" and urgency.fresh_demand:
            kind = "in_progress"   # a loss and a demand to pay again now: stop the next payment
    if kind is not None:
        return Verdict(EMERGENCY, scam_type, round(p_type, 4), True, kind, round(p_urgent, 4),
                       urgency, None, ranking)

    if not names_a_scam and chars <= params.short_max_chars and \
            not (money_request or urgency.fraud_words) and \
            not (off_topic is not None and off_topic <= params.short_sure_scope and
                 p_type >= params.short_sure_type):
        return Verdict(NONE, scam_type, round(p_type, 4), False, None, round(p_urgent, 4),
                       urgency, None, ranking)
    top = categories[order[0]]
    # The scope view's second opinion on "about a scam at all?", both ways.
    out_of_scope = off_topic is not None and off_topic >= params.scope_threshold and \
        p_none >= params.scope_min_none and scam_type not in params.scope_spares
    in_scope = off_topic is not None and off_topic <= params.scope_scam_threshold
    if top == NONE or p_type < params.min_probability or out_of_scope:
        scam = money_request or urgency.fraud_words or in_scope
        if scam and p_type >= params.money_min_probability:
            return Verdict(scam_type, scam_type, round(p_type, 4), False, None,
                           round(p_urgent, 4), urgency, money_request, ranking)
        if scam:
            return Verdict("general", "general", round(p_type, 4), False, None,
                           round(p_urgent, 4), urgency, money_request, ranking)
        return Verdict(NONE, scam_type, round(p_type, 4), False, None,
                       round(p_urgent, 4), urgency, None, ranking)
    return Verdict(scam_type, scam_type, round(p_type, 4), False, None, round(p_urgent, 4),
                   urgency, None, ranking)
