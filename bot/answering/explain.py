"""Why the engine answered what it did (``python -m bot ask --explain``): the urgency rules that
fired and the vetoes, the urgency model's score, each view's category scores, the combined
ranking and the nearest examples of the bank. For editors and developers, not for residents."""
from __future__ import annotations

import numpy as np

from .engine import Engine


def explain(engine: Engine, text: str, top: int = 5) -> str:
    """A plain-text report of every view of one message."""
    normalized = engine.normalize(text)[:2000]
    views = engine.views_of(normalized)
    v = views["verdict"]
    u = v.urgency
    cats = engine.categories
    lines = [f"问题: {text}", f"规范化: {normalized}",
             f"结论: category={v.category} urgent={v.urgent} urgent_kind={v.urgent_kind} "
             f"scam_type={v.scam_type} p={v.probability}", "",
             "紧急判断 (urgency):",
             f"  规则命中 (rules fired): {', '.join(u.signals) or '-'}"
             f"{f' -> {u.kind}' if u.kind else ''}",
             f"  否决 (vetoes): {', '.join(u.vetoes) or '-'}",
             "  模型 (n-gram model): " + "  ".join(
                 f"{k}={p:.3f}" for k, p in sorted(views["urgent_probs"].items())) +
             f"  P(urgent)={v.urgent_probability:.3f} (threshold {engine.triage.urgent_threshold})"]
    if v.money_request:
        lines.append(f"  要钱/要验证码 (money request): '{v.money_request}' -> never the menu")
    if u.fraud_words:
        lines.append(f"  涉诈词 (fraud words): '{u.fraud_words}' -> never the menu")
    t = engine.triage
    off_topic = views["off_topic"]
    lines += ["", "是否与诈骗有关 (scope view): " + (
        "not consulted (a line of the bank)" if off_topic is None else
        f"P(off-topic)={off_topic:.3f} (menu at >= {t.scope_threshold}, "
        f"never the menu at <= {t.scope_scam_threshold})")]
    if not views["names_a_scam"]:
        lines.append(f"  没有涉诈的词 (names nothing of a scam): the menu if at most "
                     f"{t.short_max_chars} Chinese characters, no money request, no fraud words")
    lines += ["", "类别 (categories): retrieval / n-gram model / combined"]
    ret = views["retrieval"]
    model = views["model"]
    for name, p in v.ranking[:top]:
        i = cats.index(name)
        lines.append(f"  {name:<26} {float(ret[i]):.3f} / {float(model[i]):.3f} / {p:.3f}")
    lines += ["", "最相近的例句 (nearest examples):"]
    doc_scores = views["doc_scores"]
    if doc_scores is not None:
        shown = 0
        for i in np.argsort(-doc_scores, kind="stable"):
            if doc_scores[i] <= 0 or shown == top:
                break
            d = engine.document(i)
            if d.kind == "example":
                lines.append(f"  {float(doc_scores[i]):.3f} {d.category} [{d.article_id or '-'}] "
                             f"{d.text}")
                shown += 1
    return "\n".join(lines)
