"""Answer-engine speed and size: per-message latency, index build time, start-up, memory.

(a) the real content bank and (b) 10,000 synthetic articles (made in memory from the real
articles' vocabulary, mixed and shuffled, spread over the taxonomy), each in a fresh child
process so its peak RSS is its own: index build time (wall and CPU) and peak RSS, the saved
index's size and the time a worker takes to map it, then the uncached latency of ~500 varied
questions (normalize + match, the work behind every new question; the engine's LRU cache is
bypassed). (c) start-up to first answer: ``python -m bot ask "..."`` end to end, and
``create_app`` + a first POST /api/v1/ask, each in a fresh process. (d) memory: VmRSS of the
gunicorn workers (``python -m bot serve`` settings) after serving some requests.

usage: .venv/bin/python bench/engine_bench.py [--synthetic 10000] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import benchkit  # noqa: E402
from benchkit import PYTHON, QUESTIONS, ROOT  # noqa: E402

CONTENT = ROOT / "content"
GOAL_MEDIAN_MS, GOAL_STARTUP_S, GOAL_WORKER_MB = 5.0, 3.0, 200.0
STARTUP_QUESTION = "有人打电话说我涉嫌洗钱，要我把钱转到安全账户"

PREFIXES = ["", "", "请问", "帮我看看，", "我妈问：", "你好，", "急！", "老师好，", "我想问一下"]
SUFFIXES = ["", "", "，是不是骗子", "，怎么办", "？", "，靠谱吗", "。谢谢", "，我该信吗", "！！"]


def question_set(articles, offtopic, n: int = 500, seed: int = 7) -> list[str]:
    """~n distinct messages: the resident pool, article examples, off-topic lines, reworded
    variants, and long pasted messages made of several examples."""
    rng = random.Random(seed)
    examples = [e for a in articles for e in a.examples]
    out = list(QUESTIONS)
    out += rng.sample(examples, min(200, len(examples)))
    out += rng.sample(offtopic, min(80, len(offtopic)))
    while len(out) < n - 60:
        base = rng.choice(QUESTIONS + examples)
        out.append(rng.choice(PREFIXES) + base + rng.choice(SUFFIXES))
    while len(out) < n:  # pasted SMS / long stories, 100-300 characters
        out.append("，".join(rng.sample(examples, rng.randint(3, 6))))
    seen, unique = set(), []
    for q in out:
        if q not in seen:
            seen.add(q)
            unique.append(q)
    return unique


# -- synthetic content ------------------------------------------------------------------------
_WORD_RE = re.compile(r"[\u4e00-\u9fff]")


def synthetic_articles(real, taxonomy, count: int, seed: int = 11):
    """``count`` Articles whose text is the real articles' words, shuffled and recombined: 70%
    from a real article of the same category (so categories keep a vocabulary of their own),
    30% from the whole bank. Categories are spread evenly over the taxonomy (except none).
    Each has 0-3 urgent lines made from the words of the bank's urgent lines of that kind."""
    from bot.answering.text import plain_segmenter
    from bot.content.model import Article

    rng = random.Random(seed)
    urgent_rng = random.Random(seed + 1)   # its own stream: the other fields stay as they were

    def words_of(text):
        return [w for w in plain_segmenter().cut(text) if _WORD_RE.search(w)]

    donors: dict[str, list] = {}
    all_words, all_keywords = [], []
    urgent_words = {kind: words_of(" ".join(t for a in real for t, k in a.urgent_examples
                                            if k == kind)) for kind in ("in_progress", "lost")}
    for a in real:
        text = " ".join([a.title, a.summary, *a.examples, *a.sections.values()])
        vocab = words_of(text)
        donors.setdefault(a.category, []).append((vocab, list(a.keywords)))
        all_words += vocab
        all_keywords += a.keywords
    categories = [c for c in taxonomy if c != "none"]

    def phrase(vocab, lo, hi):
        k = rng.randint(lo, hi)
        return "".join(rng.choice(vocab) if rng.random() < 0.7 else rng.choice(all_words)
                       for _ in range(k))

    def urgent_lines():
        kinds = [urgent_rng.choice(("in_progress", "lost"))
                 for _ in range(urgent_rng.randint(0, 3))]
        return tuple(("".join(urgent_rng.choice(urgent_words[k])
                              for _ in range(urgent_rng.randint(5, 14))), k) for k in kinds)

    articles = []
    for i in range(count):
        category = categories[i % len(categories)]
        vocab, keywords = rng.choice(donors.get(category) or [(all_words, all_keywords)])
        kws = rng.sample(keywords, min(len(keywords), rng.randint(3, 6)))
        kws += rng.sample(all_keywords, 2)
        sections = {
            "套路": "\n".join(phrase(vocab, 8, 20) + "。" for _ in range(rng.randint(3, 5))),
            "识别要点": "\n".join("- " + phrase(vocab, 4, 10)
                               for _ in range(rng.randint(3, 5))),
            "怎么办": "\n".join("- " + phrase(vocab, 4, 10) for _ in range(rng.randint(2, 4))),
        }
        articles.append(Article(
            id=f"syn-{i:05d}", category=category, title=phrase(vocab, 3, 7)[:60],
            summary=phrase(vocab, 8, 16)[:120], audiences=("general",),
            examples=tuple(phrase(vocab, 4, 18) for _ in range(rng.randint(3, 12))),
            keywords=tuple(dict.fromkeys(kws)), sources=("synthetic",), sections=sections,
            body="", path=f"synthetic/syn-{i:05d}.md", urgent_examples=urgent_lines()))
    return articles


# -- child: build one engine and time it --------------------------------------------------------
def rss_mb() -> float:
    return benchkit.rss_kb(os.getpid()) / 1024


def engine_child(synthetic: int) -> dict:
    """Runs in a fresh process; returns the figures as a dict (printed as JSON)."""
    t0 = time.perf_counter()
    from bot.content.model import load_content
    from bot.answering.engine import Engine, EngineParams, load_offtopic, load_terms
    from bot.answering.text import Normalizer, plain_segmenter

    imports_ms = (time.perf_counter() - t0) * 1000
    rss_imports = rss_mb()
    t0 = time.perf_counter()
    plain_segmenter()   # jieba's dictionary, loaded once per process as a builder loads it
    jieba_ms = (time.perf_counter() - t0) * 1000
    rss_jieba = rss_mb()

    bank = load_content(CONTENT)
    normalizer = Normalizer.from_file(CONTENT / "engine" / "normalize.tsv")
    offtopic = load_offtopic(CONTENT / "engine")
    terms = load_terms(CONTENT / "engine" / "terms.txt")
    questions = question_set(bank.articles, offtopic)
    articles = bank.articles
    gen_ms = 0.0
    if synthetic:
        t0 = time.perf_counter()
        articles = synthetic_articles(bank.articles, bank.taxonomy, synthetic)
        gen_ms = (time.perf_counter() - t0) * 1000
    rss_before = rss_mb()

    def cpu_s():
        me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                   resource.RUSAGE_CHILDREN))
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        # Built as a builder builds into the index store (IndexStore.write): the arrays go
        # to their files as they are finished; save() adds the articles and the manifest.
        t0, c0 = time.perf_counter(), cpu_s()
        engine = Engine(articles, offtopic, normalizer, EngineParams(), terms,
                        out_dir=Path(tmp))
        build_ms = (time.perf_counter() - t0) * 1000
        build_cpu_s = cpu_s() - c0
        rss_built = rss_mb()
        peak_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # The build's other processes (tokenising, training): the largest one's peak, which
        # for a forked one counts the pages it shares with this process.
        peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        # What a worker does instead of building: map the saved index.
        t0 = time.perf_counter()
        engine.save(Path(tmp))
        save_ms = (time.perf_counter() - t0) * 1000
        index_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2**20
        del engine
        rss_freed = rss_mb()
        t0 = time.perf_counter()
        engine = Engine.load(Path(tmp), normalizer)
        load_ms = (time.perf_counter() - t0) * 1000
        rss_loaded = rss_mb()

    def uncached(q):
        return engine._match_uncached(engine.normalize(q)[:2000])  # what match() does on a miss

    for q in questions[:50]:  # warm-up: first calls pay for lazy imports and allocator growth
        uncached(q)
    times, categories = [], {}
    for q in questions:
        t = time.perf_counter()
        m = uncached(q)
        times.append((time.perf_counter() - t) * 1000)
        categories[m.category] = categories.get(m.category, 0) + 1
    cached = []
    for q in questions:
        engine.match(q)
    for q in questions:
        t = time.perf_counter()
        engine.match(q)
        cached.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {
        "articles": len(articles), "documents": engine.n_docs, "terms": engine.n_terms,
        "save_ms": save_ms, "load_ms": load_ms, "index_mb": index_mb, "build_cpu_s": build_cpu_s,
        "rss_load_delta_mb": rss_loaded - rss_freed, "peak_build_rss_mb": peak_build,
        "peak_children_rss_mb": peak_children,
        "questions": len(questions), "imports_ms": imports_ms, "jieba_init_ms": jieba_ms,
        "generate_ms": gen_ms, "build_ms": build_ms,
        "median_ms": statistics.median(times), "p99_ms": times[int(0.99 * (len(times) - 1))],
        "max_ms": times[-1], "mean_ms": statistics.fmean(times),
        "cached_median_us": statistics.median(cached) * 1000,
        "rss_imports_mb": rss_imports, "rss_jieba_mb": rss_jieba, "rss_before_build_mb": rss_before,
        "rss_built_mb": rss_built,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "categories_seen": len(categories), "none_share": categories.get("none", 0) / len(times),
    }


def run_child(args: list[str], timeout: float = 300) -> dict:
    done = subprocess.run([PYTHON, __file__, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=benchkit.bench_env())
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- start-up ---------------------------------------------------------------------------------
CREATE_APP_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from bot import create_app
from bot.config import load_settings
t1 = time.perf_counter()
app = create_app(load_settings())
t2 = time.perf_counter()
r = app.test_client().post("/api/v1/ask", json={"q": sys.argv[1]})
t3 = time.perf_counter()
assert r.status_code == 200 and r.get_json()["answer"], r.status_code
print(json.dumps({"imports_s": t1 - t0, "create_app_s": t2 - t1, "first_ask_s": t3 - t2,
                  "category": r.get_json()["category"]}))
"""


def time_startup(config: Path, runs: int) -> dict:
    """Wall time of fresh processes, from spawn to exit."""
    env = benchkit.bench_env(config)
    ask, app, parts = [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        done = subprocess.run([PYTHON, "-m", "bot", "ask", STARTUP_QUESTION], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        ask.append(time.perf_counter() - t)
        if done.returncode != 0 or '"answer"' not in done.stdout:
            raise RuntimeError(f"bot ask failed:\n{done.stdout}\n{done.stderr}")
        t = time.perf_counter()
        done = subprocess.run([PYTHON, "-c", CREATE_APP_CHILD, STARTUP_QUESTION], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120)
        app.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise RuntimeError(f"create_app child failed:\n{done.stdout}\n{done.stderr}")
        parts.append(json.loads(done.stdout.strip().splitlines()[-1]))
    mid = sorted(range(runs), key=lambda i: app[i])[runs // 2]
    return {"ask": ask, "app": app, "app_parts": parts[mid]}


# -- memory of served workers -------------------------------------------------------------------
def serve_and_measure(pushes: int = 300, api_asks: int = 50) -> dict:
    """Start gunicorn like ``bot serve``, send pushes (half plain, half AES) and API asks, one
    at a time, then read the workers' VmRSS."""
    server = benchkit.start_server("app")
    try:
        makers = [benchkit.RequestMaker("plain"), benchkit.RequestMaker("safe")]
        deadline = time.monotonic() + 120
        ok = 0
        for i in range(pushes):
            url, body = makers[i % 2].make(QUESTIONS[(i * 7) % len(QUESTIONS)] + f" {i}")
            status, reply = benchkit.post(server.port, url, body)
            ok += status == 200 and reply.startswith(b"<xml>")
            if time.monotonic() > deadline:
                break
        for i in range(api_asks):
            q = json.dumps({"q": f"{QUESTIONS[i % len(QUESTIONS)]}（{i}）"}).encode()
            status, _ = benchkit.post(server.port, "/api/v1/ask", q, "application/json")
            ok += status == 200
            if time.monotonic() > deadline:
                break
        workers = server.worker_pids()
        return {"sent": pushes + api_asks, "ok": ok,
                "workers_mb": [benchkit.rss_kb(p) / 1024 for p in workers],
                "master_mb": benchkit.rss_kb(server.proc.pid) / 1024}
    finally:
        server.stop()


def mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--synthetic", type=int, default=10000, help="synthetic article count")
    ap.add_argument("--runs", type=int, default=3, help="fresh processes per start-up figure")
    ap.add_argument("--child", choices=["real", "synthetic"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(engine_child(a.synthetic if a.child == "synthetic" else 0)))
        return 0
    if not (1 <= a.runs <= 10 and 0 < a.synthetic <= 50000):
        ap.error("keep it bounded: --runs 1..10, --synthetic 1..50000")

    started = time.time()
    print("... engine, real content", file=sys.stderr, flush=True)
    real = run_child(["--child", "real"])
    print(f"... engine, {a.synthetic} synthetic articles", file=sys.stderr, flush=True)
    syn = run_child(["--child", "synthetic", "--synthetic", str(a.synthetic)])
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        config = benchkit.write_config(Path(tmp), benchkit.free_port())
        benchkit.init_db(config)
        print("... start-up", file=sys.stderr, flush=True)
        startup = time_startup(config, a.runs)
    print("... gunicorn worker memory", file=sys.stderr, flush=True)
    served = serve_and_measure()
    problems = []

    print(f"\n### Answer engine: uncached latency per message (normalize + match), "
          f"{real['questions']} questions\n")
    print("| content | articles | documents | index build ms | build CPU s | peak RSS MB | "
          "index MB | map (load) ms | median ms | p99 ms | "
          f"goal median < {GOAL_MEDIAN_MS:g} ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, r in (("real content bank", real), ("synthetic", syn)):
        print(f"| {label} | {r['articles']:,} | {r['documents']:,} | {r['build_ms']:,.0f} | "
              f"{r['build_cpu_s']:.1f} | {r['peak_build_rss_mb']:.0f} | {r['index_mb']:.0f} | "
              f"{r['load_ms']:.0f} | {r['median_ms']:.2f} | {r['p99_ms']:.2f} | "
              f"{mark(r['median_ms'] < GOAL_MEDIAN_MS)} |")
        if r["median_ms"] >= GOAL_MEDIAN_MS:
            problems.append(f"{label}: median {r['median_ms']:.2f} ms")
    print("\n(build CPU: this process and the processes it started; peak RSS: the building "
          "process, which writes the arrays into the index directory as it builds; the "
          "largest process it started (training, or a forked tokeniser) peaked at "
          + ", ".join(f"{r['peak_children_rss_mb']:.0f} MB ({label})" for label, r in
                      (("real", real), ("synthetic", syn)) if r["peak_children_rss_mb"] > 1)
          + ", a forked one counting the pages it shares with the builder)")

    med = statistics.median
    parts = startup["app_parts"]
    print(f"\n### Start-up to first answer (fresh process, wall time, median of {a.runs})\n")
    print(f"| path | median s | min s | max s | goal < {GOAL_STARTUP_S:g} s |")
    print("|---|---:|---:|---:|---|")
    for label, xs in ((f'`python -m bot ask "…"`', startup["ask"]),
                      ("`create_app()` + first POST /api/v1/ask", startup["app"])):
        print(f"| {label} | {med(xs):.2f} | {min(xs):.2f} | {max(xs):.2f} | "
              f"{mark(med(xs) < GOAL_STARTUP_S)} |")
        if med(xs) >= GOAL_STARTUP_S:
            problems.append(f"start-up {label}: {med(xs):.2f} s")

    print(f"\n### Memory\n")
    print(f"| process | RSS MB | goal < {GOAL_WORKER_MB:g} MB per worker |")
    print("|---|---:|---|")
    for i, mb in enumerate(served["workers_mb"], 1):
        print(f"| gunicorn worker {i} (after {served['sent']} requests) | {mb:.0f} | "
              f"{mark(mb < GOAL_WORKER_MB)} |")
        if mb >= GOAL_WORKER_MB:
            problems.append(f"worker {i}: {mb:.0f} MB")
    print(f"| gunicorn master | {served['master_mb']:.0f} | |")
    print(f"| engine process, real content (peak) | {real['peak_rss_mb']:.0f} | |")
    print(f"| engine process, {syn['articles']:,} synthetic articles (peak) | "
          f"{syn['peak_rss_mb']:.0f} | |")

    print("\nNotes:\n")
    for label, r in (("real", real), ("synthetic", syn)):
        print(f"- {label}: {r['terms']:,} index terms; p99 {r['p99_ms']:.2f} ms, max "
              f"{r['max_ms']:.2f} ms; jieba dictionary load {r['jieba_init_ms']:.0f} ms "
              f"(not in build time); RSS after imports {r['rss_imports_mb']:.0f} MB, after "
              f"jieba {r['rss_jieba_mb']:.0f} MB, before build {r['rss_before_build_mb']:.0f} MB, "
              f"after build {r['rss_built_mb']:.0f} MB"
              + (f"; generating the articles took {r['generate_ms']:,.0f} ms" if r["generate_ms"]
                 else "")
              + f"; {r['categories_seen']} categories answered, {r['none_share']:.0%} none")
    print(f"- create_app child (median run): imports {parts['imports_s']:.2f} s, create_app "
          f"{parts['create_app_s']:.2f} s, first ask {parts['first_ask_s'] * 1000:.0f} ms "
          f"(answered '{parts['category']}')")
    print(f"- served requests: {served['ok']}/{served['sent']} answered 200 "
          f"({served['sent'] - 50} WeChat pushes, half AES, then 50 API asks)")
    print(f"- {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; wall time "
          f"{time.time() - started:.0f} s")
    if served["ok"] != served["sent"]:
        problems.append(f"only {served['ok']} of {served['sent']} served requests succeeded")
    for p in problems:
        print(f"GOAL MISSED: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
