"""Cross-validate the whole answer decision on the content bank's own labelled lines.

Each article's plain examples and urgent lines, and the off-topic lines, are split into K folds
by position; for each fold the engine (retrieval index and n-gram models) is built without those
lines and asked them. This is the development metric: it never looks at ../shared/eval.

Printed per setting: category top-1 on plain lines (examples and off-topic), the scam type of
urgent lines, the eval-style top-1 (an urgent line is right when it is answered as urgent),
urgency recall and kind accuracy, the false-urgent rate on plain lines, ``none`` precision and
recall, and off-topic lines answered as a scam. ``--curve`` adds a learning curve: the same
folds with at most N training lines per case.

``--errors N`` prints up to N errors of each kind (missed urgent by kind, urgent lines given the
other urgent kind, false urgent by kind,
category errors, ``none`` errors); ``--speed`` times the urgency rules and the n-gram views per
message, and the scope view on the n-gram vector the views made (CPU time over ~500 distinct
bank lines, best of 5 rounds: the load of a shared machine moves wall time, far less CPU
time).

``--scope`` sweeps the scope view's thresholds (scope.py; the shipped ones, the same
decision without the view, how well the view ranks whatever the thresholds, and the shipped
ones without ``scope_spares`` are printed first, then the frontier of off-topic lines answered
as a scam against scam lines given the menu). ``--word-weight`` and ``--scope-c`` train the
view with another weight of its word features (0: none) or SVM C.

usage: .venv/bin/python bench/cv_engine.py [--folds 5] [--grid] [--curve] [--views] [--errors N]
       [--speed] [--scope] [--word-weight W] [--scope-c C]
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.answering.classifier import CATEGORY_SHARPNESS, URGENCY_SHARPNESS  # noqa: E402
from bot.answering.engine import NONE, Engine, load_offtopic, load_terms  # noqa: E402
from bot.answering import scope as scope_module  # noqa: E402
from bot.answering.scope import KNOWN_LINE_SCORE, SCOPE_SHARPNESS, probability  # noqa: E402
from bot.answering.text import Normalizer, words_and_tokens  # noqa: E402
from bot.answering.triage import TriageParams, cjk_chars, decide  # noqa: E402
from bot.answering.urgency import detect_urgency, money_request  # noqa: E402
from bot.content.model import load_content  # noqa: E402


def folds_of(articles, offtopic, k, per_case=None):
    """(training articles, training off-topic lines, held lines) per fold; held lines are
    (text, category, urgent kind or None). ``per_case`` caps each article's training lines."""
    for fold in range(k):
        train, held = [], []
        for a in articles:
            ex = [e for i, e in enumerate(a.examples) if i % k != fold]
            urg = [u for i, u in enumerate(a.urgent_examples) if i % k != fold]
            if per_case is not None:
                share = len(urg) / max(1, len(ex) + len(urg))
                n_urg = min(len(urg), round(per_case * share))
                ex, urg = ex[:per_case - n_urg], urg[:n_urg]
            held += [(e, a.category, None) for i, e in enumerate(a.examples) if i % k == fold]
            held += [(t, a.category, kind) for i, (t, kind) in enumerate(a.urgent_examples)
                     if i % k == fold]
            train.append(dataclasses.replace(a, examples=tuple(ex), urgent_examples=tuple(urg)))
        train_off = [q for i, q in enumerate(offtopic) if i % k != fold]
        held += [(q, NONE, None) for i, q in enumerate(offtopic) if i % k == fold]
        yield train, train_off, held


def collect(articles, offtopic, normalizer, terms, k, per_case=None):
    """Every view of every held line, computed once (settings are swept over these)."""
    rows = []
    for train, off, held in folds_of(articles, offtopic, k, per_case):
        engine = Engine(train, off, normalizer, extra_terms=terms)
        cat_model, urg_model = engine.views.category, engine.views.urgency
        for text, label, kind in held:
            norm = normalizer(text)[:2000]
            words, tokens = words_and_tokens(norm, engine.segmenter)   # once, as views_of
            retrieval, doc_scores = engine._retrieval(norm, None, tokens)
            ids, w = engine.views.features.vector(norm)
            cm = cat_model.margins(ids, w)
            money = money_request(norm)   # once, handed to the rules as Engine.views_of does
            rows.append(dict(
                text=text, label=label, kind=kind, retrieval=retrieval,
                cat_margins=np.where(engine._view_order >= 0, cm[engine._view_order], -9.0),
                urg_margins=urg_model.margins(ids, w), urg_classes=urg_model.classes,
                money=money, urgency=detect_urgency(norm, money),
                chars=cjk_chars(norm), scope=engine.scope.margin(norm, ids, w, words),
                known=doc_scores is not None and doc_scores.max() >= KNOWN_LINE_SCORE,
                names=engine.names_a_scam(words),
                categories=engine.categories))
    return rows


def softmax(z, s):
    z = np.exp(s * (z - z.max()))
    return z / z.sum()


def score(rows, params: TriageParams, cat_sharpness=CATEGORY_SHARPNESS,
          urg_sharpness=URGENCY_SHARPNESS, rules=True,
          model_urgency=True, scope=True):
    m = dict(plain=0, plain_ok=0, urgent=0, urgent_hit=0, kind_ok=0, type_ok=0, false_urgent=0,
             none_pred=0, none_pred_ok=0, none_true=0, none_true_ok=0, eval_ok=0)
    errors = []
    for r in rows:
        model = softmax(r["cat_margins"], cat_sharpness)
        up = dict(zip(r["urg_classes"], softmax(r["urg_margins"], urg_sharpness)))
        if not model_urgency:
            up = {"no": 1.0}
        urg = r["urgency"] if rules else dataclasses.replace(r["urgency"], urgent=False,
                                                              kind=None, signals=())
        v = decide(r["categories"], r["retrieval"], model, urg, up, r["money"], params,
                   r["chars"], probability(r["scope"], SCOPE_SHARPNESS)
                   if scope and not r["known"] else None, r["known"] or r["names"])
        if r["kind"]:
            m["urgent"] += 1
            m["urgent_hit"] += v.urgent
            m["kind_ok"] += v.urgent_kind == r["kind"]
            m["type_ok"] += v.scam_type == r["label"]
            m["eval_ok"] += v.urgent
            if not v.urgent:
                errors.append(("missed urgent", r["kind"], r["text"], _why(v)))
            elif v.urgent_kind != r["kind"]:
                errors.append(("wrong kind", f"{r['kind']} answered {v.urgent_kind}",
                               r["text"], _why(v)))
        else:
            m["plain"] += 1
            ok = v.category == r["label"]
            m["plain_ok"] += ok
            m["eval_ok"] += ok
            m["false_urgent"] += v.urgent
            if v.urgent:
                errors.append(("false urgent", v.urgent_kind, r["text"], _why(v)))
            elif not ok:
                errors.append((f"{r['label']} -> {v.category}", "", r["text"], ""))
        m["none_pred"] += v.category == NONE
        m["none_pred_ok"] += v.category == NONE and r["label"] == NONE and not r["kind"]
        if r["label"] == NONE:
            m["none_true"] += 1
            m["none_true_ok"] += v.category == NONE
    return m, errors


def _why(v) -> str:
    """Rule signals, vetoes and the urgency model's score of a verdict, for error lines."""
    u = v.urgency
    return (f"rules: {','.join(u.signals) or '-'}; vetoes: {','.join(u.vetoes) or '-'}; "
            f"model {v.urgent_probability:.2f}" +
            (f"; fraud words '{u.fraud_words}'" if u.fraud_words else ""))


def summary(m) -> str:
    return (f"top-1 plain {m['plain_ok'] / max(1, m['plain']):.3f}  "
            f"type of urgent {m['type_ok'] / max(1, m['urgent']):.3f}  "
            f"eval-style top-1 {m['eval_ok'] / max(1, m['plain'] + m['urgent']):.3f}  "
            f"urgent recall {m['urgent_hit'] / max(1, m['urgent']):.3f} "
            f"(kind {m['kind_ok'] / max(1, m['urgent']):.3f})  "
            f"false urgent {m['false_urgent'] / max(1, m['plain']):.3f}  "
            f"none P/R {m['none_pred_ok'] / max(1, m['none_pred']):.3f}/"
            f"{m['none_true_ok'] / max(1, m['none_true']):.3f}  "
            f"off-topic as scam {m['none_true'] - m['none_true_ok']}/{m['none_true']}  "
            f"scam lines to the menu {m['none_pred'] - m['none_pred_ok']}")


def print_errors(errors, limit: int) -> None:
    """Errors grouped by kind (missed urgent in_progress/lost, urgent lines answered with the
    other urgent kind, false urgent by kind, off-topic
    answered as a scam, scam answered with the menu, other category errors with the most
    frequent confusions), each group with its count and up to ``limit`` lines; an urgency
    line shows the rule signals and vetoes that fired."""
    groups: dict[str, list[str]] = {}
    confusions: dict[str, int] = {}
    for what, kind, text, note in errors:
        if what in ("missed urgent", "false urgent", "wrong kind"):
            key = f"{what} ({kind})"
        elif what.startswith("none ->"):
            key = "off-topic answered as a scam"
        elif what.endswith("-> none"):
            key = "scam answered with the menu"
        else:
            key = "other category errors"
            confusions[what] = confusions.get(what, 0) + 1
        groups.setdefault(key, []).append(f"{what}  {text}" if key.startswith("other") or
                                          key.startswith("off") else f"{text}  [{note}]")
    for key in sorted(groups, key=lambda k: -len(groups[k])):
        print(f"== {key}: {len(groups[key])}")
        if key.startswith("other"):
            print("   most frequent: " + ", ".join(
                f"{k} x{n}" for k, n in sorted(confusions.items(), key=lambda x: -x[1])[:12]))
        for line in groups[key][:limit]:
            print(f"   {line}")


def grid(rows, p: TriageParams) -> None:
    """Sweep urgency settings first (recall, then false urgent within 3%), then category ones."""
    results = []
    for ut, us, mc in itertools.product([0.3, 0.4, 0.5, 0.6], [2.0, 4.0], [0, 6, 10]):
        q = dataclasses.replace(p, urgent_threshold=ut, model_min_chars=mc)
        mm, _ = score(rows, q, urg_sharpness=us)
        fu = mm["false_urgent"] / mm["plain"]
        results.append(((mm["urgent_hit"] / mm["urgent"] - 3 * max(0.0, fu - 0.03), -fu),
                        f"urgent_threshold={ut} urg_sharpness={us} model_min_chars={mc}", mm))
    results.sort(key=lambda x: x[0], reverse=True)
    for _, name, mm in results[:4]:
        print(f"{name}\n    {summary(mm)}")
    results = []
    for mw, rs, mp, cs in itertools.product([0.3, 0.5, 0.7, 0.85], [8.0, 20.0, 40.0],
                                            [0.1, 0.15, 0.2, 0.3], [2.0, 4.0, 8.0]):
        q = dataclasses.replace(p, model_weight=mw, retrieval_sharpness=rs, min_probability=mp)
        mm, _ = score(rows, q, cat_sharpness=cs, model_urgency=False)
        none_p = mm["none_pred_ok"] / max(1, mm["none_pred"])
        results.append(((mm["plain_ok"] / mm["plain"] + min(0.0, none_p - 0.98)),
                        f"model_weight={mw} retrieval_sharpness={rs} min_probability={mp} "
                        f"cat_sharpness={cs}", mm))
    results.sort(key=lambda x: x[0], reverse=True)
    for _, name, mm in results[:6]:
        print(f"{name}\n    {summary(mm)}")


def scope_ranking(rows, p: TriageParams) -> str:
    """How well the scope view ranks, whatever the thresholds: among the lines that the
    decision without it answers with a scam type and no rule demands one (not urgent, no money
    request, no fraud words, not a line of the bank), sorted by P(off-topic), the off-topic
    lines found above the 2nd and the 5th scam line."""
    candidates = []
    for r in rows:
        model = softmax(r["cat_margins"], CATEGORY_SHARPNESS)
        up = dict(zip(r["urg_classes"], softmax(r["urg_margins"], URGENCY_SHARPNESS)))
        v = decide(r["categories"], r["retrieval"], model, r["urgency"], up, r["money"], p,
                   r["chars"], None)
        if v.urgent or v.category in (NONE, "general") or r["money"] or \
                r["urgency"].fraud_words or r["known"]:
            continue
        candidates.append((-r["scope"], r["label"] == NONE and not r["kind"]))
    candidates.sort(key=lambda c: c[0])
    found, cost, at = 0, 0, {}
    for _, off in candidates:
        if off:
            found += 1
        else:
            cost += 1
            at.setdefault(cost, found)
    n_off = sum(off for _, off in candidates)
    return (f"{len(candidates)} lines answered with a scam type no rule demands ({n_off} "
            f"off-topic): by P(off-topic), {at.get(2, found)} off-topic lines above the 2nd scam "
            f"line, {at.get(5, found)} above the 5th")


def scope_grid(rows, p: TriageParams) -> None:
    """Sweep the scope view's thresholds (scope.py): fewer off-topic lines answered as a scam
    and no more scam lines sent to the menu than without the view."""
    base, _ = score(rows, p, scope=False)
    print(f"without the scope view: {summary(base)}")
    print(f"ranking: {scope_ranking(rows, p)}")
    print(f"shipped without scope_spares: "
          f"{summary(score(rows, dataclasses.replace(p, scope_spares=()))[0])}")
    results = {}
    for on, off, mn in itertools.product([0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 1.1],
                                         [-0.1, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4],
                                         [0.0, 0.002, 0.005, 0.01, 0.02, 0.05]):
        q = dataclasses.replace(p, scope_threshold=on, scope_scam_threshold=off,
                                scope_min_none=mn)
        mm, _ = score(rows, q)
        point = (mm["none_true"] - mm["none_true_ok"], mm["none_pred"] - mm["none_pred_ok"])
        results.setdefault(point, (f"scope_threshold={on} scope_scam_threshold={off} "
                                   f"scope_min_none={mn}", mm))
    # The frontier: settings that no other beats on both counts (off-topic lines answered
    # as a scam, scam lines given the menu), fewest off-topic errors first.
    front = [pt for pt in sorted(results) if not any(
        o[0] <= pt[0] and o[1] <= pt[1] and o != pt for o in results)]
    print("frontier (off-topic answered as a scam, scam lines given the menu):")
    for pt in front[:30]:
        name, mm = results[pt]
        print(f"{pt}: {name}\n    {summary(mm)}")


def speed(articles, offtopic, normalizer, terms, n=500, rounds=5) -> None:
    """Per-message CPU time of the rules (detect_urgency + money_request) and of the n-gram
    views (features + both models) on n distinct lines of the bank."""
    engine = Engine(articles, offtopic, normalizer, extra_terms=terms)
    lines = list(dict.fromkeys([t for a in articles for t in a.examples] +
                               [t for a in articles for t, _ in a.urgent_examples] + offtopic))
    step = max(1, len(lines) // n)
    texts = [normalizer(t)[:2000] for t in lines[::step][:n]]

    def best(fn):
        times = []
        for _ in range(rounds):
            t0 = time.process_time()
            for t in texts:
                fn(t)
            times.append(time.process_time() - t0)
        return min(times) / len(texts) * 1e6

    rules = best(lambda t: detect_urgency(t, money_request(t)))   # as Engine.views_of does
    views = best(engine.views.judge)
    vectors = {t: engine.views.features.vector(t) for t in texts}
    cut = {t: words_and_tokens(t, engine.segmenter) for t in texts}
    scope = best(lambda t: engine.scope.off_topic_probability(t, *vectors[t], cut[t][0]))
    query = best(lambda t: engine.query_vector(t, None, cut[t][1]))
    names = best(lambda t: engine.names_a_scam(cut[t][0]))
    print(f"speed over {len(texts)} distinct lines, CPU µs per message (best of {rounds}): "
          f"rules {rules:.1f}, n-gram views {views:.1f}, scope view on their n-gram vector and "
          f"the retrieval's cut {scope:.1f}, names_a_scam {names:.1f}, together "
          f"{rules + views + scope + names:.1f}; "
          f"(retrieval's query vector from its tokens {query:.1f})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--grid", action="store_true", help="sweep the decision parameters")
    ap.add_argument("--curve", action="store_true", help="learning curve by lines per case")
    ap.add_argument("--views", action="store_true", help="each view alone, then combined")
    ap.add_argument("--errors", type=int, default=0,
                    help="print up to this many errors of each kind")
    ap.add_argument("--speed", action="store_true", help="time the rules and the n-gram views")
    ap.add_argument("--scope", action="store_true", help="sweep the scope view's thresholds")
    ap.add_argument("--scope-c", type=float, help="train the scope view with this SVM C")
    ap.add_argument("--word-weight", type=float,
                    help="train the scope view with this weight of its word features (0: none)")
    a = ap.parse_args()
    if a.scope_c is not None:
        scope_module.SCOPE_C = a.scope_c
    if a.word_weight is not None:
        scope_module.WORD_WEIGHT = a.word_weight
    content = ROOT / "content"
    bank = load_content(content)
    normalizer = Normalizer.from_file(content / "engine" / "normalize.tsv")
    offtopic = load_offtopic(content / "engine")
    terms = load_terms(content / "engine" / "terms.txt")
    started = time.time()
    if a.speed:
        speed(bank.articles, offtopic, normalizer, terms)
        return
    n_lines = sum(len(x.examples) + len(x.urgent_examples) for x in bank.articles)
    print(f"bank: {len(bank.articles)} articles, {n_lines} labelled lines "
          f"({sum(len(x.urgent_examples) for x in bank.articles)} urgent), "
          f"{len(offtopic)} off-topic lines; {a.folds}-fold")
    rows = collect(bank.articles, offtopic, normalizer, terms, a.folds)
    p = TriageParams()
    m, errors = score(rows, p)
    print(f"shipped settings: {summary(m)}")
    if a.views:
        only_ret = dataclasses.replace(p, model_weight=0.0)
        only_model = dataclasses.replace(p, model_weight=1.0)
        print(f"retrieval only:   {summary(score(rows, only_ret)[0])}")
        print(f"n-gram model only:{summary(score(rows, only_model)[0])}")
        print(f"rules only (urgency): {summary(score(rows, p, model_urgency=False)[0])}")
        print(f"model only (urgency): {summary(score(rows, p, rules=False)[0])}")
        free = dataclasses.replace(p, vetoes_bind_model=False)
        print(f"vetoes not binding the model: {summary(score(rows, free)[0])}")
    if a.grid:
        grid(rows, p)
    if a.scope:
        scope_grid(rows, p)
    if a.curve:
        for n in (10, 20, 30, 40, None):
            mm, _ = score(collect(bank.articles, offtopic, normalizer, terms, a.folds, n), p)
            print(f"≤{n or 'all'} lines per case: {summary(mm)}")
    if a.errors:
        print_errors(errors, a.errors)
    print(f"{time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
