"""Cross-validate the answer engine on the content bank's own example questions.

Each article's examples (and the off-topic lines) are split into K folds; for each fold the
engine is built without those examples and asked them. This measures how well the engine
generalises to wordings it has not seen, without touching ../shared/eval (kept for the final
measurement). Prints accuracy for a small grid of decision parameters.

usage: .venv/bin/python bench/tune_engine.py [--folds 5] [--grid]
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.answering import engine as engine_mod  # noqa: E402
from bot.content.model import load_content  # noqa: E402
from bot.answering.engine import Engine, EngineParams, load_offtopic, load_terms  # noqa: E402
from bot.answering.text import Normalizer  # noqa: E402


def folds_of(articles, offtopic, k):
    for fold in range(k):
        train_articles, held = [], []
        for a in articles:
            keep = tuple(e for i, e in enumerate(a.examples) if i % k != fold)
            held += [(e, a.category) for i, e in enumerate(a.examples) if i % k == fold]
            train_articles.append(dataclasses.replace(a, examples=keep))
        train_off = [q for i, q in enumerate(offtopic) if i % k != fold]
        held += [(q, "none") for i, q in enumerate(offtopic) if i % k == fold]
        yield train_articles, train_off, held


def evaluate(params_list, k=5):
    content = ROOT / "content"
    bank = load_content(content)
    normalizer = Normalizer.from_file(content / "engine" / "normalize.tsv")
    offtopic = load_offtopic(content / "engine" / "offtopic.txt")
    terms = load_terms(content / "engine" / "terms.txt")
    results = {p: [0, 0, 0, 0] for p in params_list}  # ok, n, none_pred, none_pred_ok
    for train, off, held in folds_of(bank.articles, offtopic, k):
        engine = Engine(train, off, normalizer, params_list[0], terms)
        for params in params_list:
            engine.params = params
            engine._cached_match.cache_clear()
            r = results[params]
            for q, label in held:
                m = engine.match(q)
                cat = m.category if not m.urgent else label if label != "none" else "emergency"
                r[0] += cat == label
                r[1] += 1
                r[2] += cat == "none"
                r[3] += cat == "none" and label == "none"
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--grid", action="store_true")
    a = ap.parse_args()
    if a.grid:
        params = [EngineParams(nn_weight=w, min_score=t)
                  for w, t in itertools.product([0.3, 0.4, 0.5, 0.6], [0.06, 0.08, 0.10, 0.12])]
    else:
        params = [EngineParams()]
    started = time.time()
    results = evaluate(params, a.folds)
    for p, (ok, n, npred, nok) in sorted(results.items(), key=lambda kv: -kv[1][0]):
        print(f"nn_weight={p.nn_weight:.2f} min_score={p.min_score:.2f}  "
              f"accuracy {ok / n:.3f}  none precision {nok / max(1, npred):.3f}  (n={n})")
    print(f"bigram_weight={engine_mod.BIGRAM_WEIGHT} field_weights={engine_mod.FIELD_WEIGHTS} "
          f"{time.time() - started:.1f}s")


if __name__ == "__main__":
    main()
