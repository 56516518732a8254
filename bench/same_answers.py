"""Does a faster query path answer exactly as before? This checkout's engine against another
checkout's (``git worktree add /tmp/before <commit>``), over the same index and messages.

The messages: every example, urgent line and off-topic line of content/, the development sets'
messages (../shared/eval/dev*.jsonl) and any other sets of resident messages given with --sets
(only run through both engines: a difference is reported by file and line, never by its
text), and 3,000 of the webhook bench's texts. The index is built once, by the baseline
checkout, from a copy of content/ (content edited meanwhile changes nothing), and each
checkout's engine loads it in a process of its own and answers every message (normalise and
match, the answer cache bypassed). Compared: category, score (within 1e-9), urgent, its kind,
the case ids, the ranking (scores within 1e-9), the rules' whole view (signals, vetoes, fraud
words, fresh demand) and the money request. Exit status 1 on any difference.

usage: .venv/bin/python bench/same_answers.py --baseline PATH [--sets '/work/eval3/*.jsonl']
"""
from __future__ import annotations

import argparse
import glob
import json
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# ../shared/eval beside the main checkout (a worktree under /work/wt has it two levels up)
DEV_SETS = next((p for p in (ROOT.parent / "shared" / "eval", ROOT.parent.parent / "shared" / "eval")
                 if p.is_dir()), ROOT.parent / "shared" / "eval")

# Run in a child process with one checkout first on sys.path: prepare (index and messages)
# or answer (every message, pickled).
_CHILD = r"""
import json, pickle, sys
from pathlib import Path
checkout, step, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
sys.path[:0] = [checkout, checkout + "/bench"]
from bot.answering.engine import Engine, load_offtopic, load_terms
from bot.answering.text import Normalizer
from bot.answering.urgency import money_request
content = work / "content"
normalizer = Normalizer.from_file(content / "engine" / "normalize.tsv")
if step == "prepare":
    from bot.content.model import load_content
    import benchkit
    bank = load_content(content)
    offtopic = load_offtopic(content / "engine")
    lines = [t for a in bank.articles for t in a.examples]
    lines += [t for a in bank.articles for t, _ in a.urgent_examples] + offtopic
    messages = json.loads((work / "sets.json").read_text("utf-8"))
    messages += [["bank", i, t] for i, t in enumerate(lines)]
    messages += [["bench", i, t] for i, t in enumerate(benchkit.distinct_texts(3000, seed=11))]
    (work / "messages.json").write_text(json.dumps(messages, ensure_ascii=False), "utf-8")
    (work / "index").mkdir()
    Engine(bank.articles, offtopic, normalizer,
           extra_terms=load_terms(content / "engine" / "terms.txt")).save(work / "index")
else:
    engine = Engine.load(work / "index", normalizer)
    out = []
    for _, _, text in json.loads((work / "messages.json").read_text("utf-8")):
        n = normalizer(text)[:2000]
        m = engine._match_uncached(n)
        # (m.urgency is the rules' whole view, as the engine ran them: not run a second time)
        out.append((m.category, m.score, m.urgent, m.case_ids, m.urgent_kind, m.ranking,
                    tuple(vars(m.urgency).items()), money_request(n)))
    (work / f"{step}.pickle").write_bytes(pickle.dumps(out))
"""


def same(a, b) -> bool:
    close = abs(a[1] - b[1]) <= 1e-9 and len(a[5]) == len(b[5]) and all(
        x[0] == y[0] and abs(x[1] - y[1]) <= 1e-9 for x, y in zip(a[5], b[5]))
    return close and a[0] == b[0] and a[2:5] == b[2:5] and a[6:] == b[6:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", type=Path, required=True, help="the other checkout")
    ap.add_argument("--sets", action="append", default=[],
                    help="a glob of more .jsonl sets of messages (field q)")
    a = ap.parse_args()
    if not (a.baseline / "bot" / "__init__.py").is_file():
        ap.error(f"--baseline {a.baseline}: not a checkout of this project")
    files = sorted(DEV_SETS.glob("dev*.jsonl")) + sorted(
        Path(p) for pattern in a.sets for p in glob.glob(pattern))
    sets = [[f.name, i, json.loads(line)["q"]] for f in files
            for i, line in enumerate(f.read_text("utf-8").splitlines(), 1) if line.strip()]
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="same-answers-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "content", work / "content")
        (work / "sets.json").write_text(json.dumps(sets, ensure_ascii=False), "utf-8")
        for checkout, step in ((a.baseline, "prepare"), (a.baseline, "before"), (ROOT, "after")):
            subprocess.run([python, "-c", _CHILD, str(Path(checkout).resolve()), step, tmp],
                           check=True)
        messages = json.loads((work / "messages.json").read_text("utf-8"))
        before = pickle.loads((work / "before.pickle").read_bytes())
        after = pickle.loads((work / "after.pickle").read_bytes())
    differ = [(source, line) for (source, line, _), x, y in zip(messages, before, after)
              if not same(x, y)]
    for source, line in differ[:20]:
        print(f"differs: {source}:{line}")
    print(f"{len(messages)} messages compared ({len(sets)} from {len(files)} sets, "
          f"{len(messages) - len(sets)} bank lines and bench texts): {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
