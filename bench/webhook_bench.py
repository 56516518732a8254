"""Webhook throughput and latency under load: our app (plaintext, safe/AES) against bare Flask.

Each target is a gunicorn started like ``python -m bot serve`` (2 gthread workers with 16
threads each, --preload, --no-control-socket, loopback, a free port) with its own temporary config and SQLite database
(``python -m bot init-db`` first). wrk keeps 32 connections busy replaying distinct signed
WeChat text pushes (fresh timestamps, unique nonces and MsgIds, and distinct texts too: resident
questions and the bank's examples with the prefixes and suffixes residents type, so no answer
cache helps, as for a resident's first message; AES-encrypted with msg_signature in safe mode) generated in Python into a data file
that bench/wrk_replay.lua loads. 2 s warm-up, then a 10 s measurement, per target.

With --publish-every S, one more plaintext run has the bench publish an edit of a case every
S seconds during the measurement (through the same editing service the admin console uses:
a new version row, an audit row, ``content_version`` bumped), so the figure shows what
publishing costs the residents being answered at that moment.

With --baseline PATH, one more plaintext target serves the app of another checkout of the
project (e.g. ``git worktree add /tmp/before <commit>``) in the same round: before and after
measured side by side under the same load, which on a shared machine moves every absolute
figure. Worker CPU per request (user + system, all threads of both workers, from /proc) moves
less than req/s and p99 when other processes share the cores.

If our app reaches less than 0.45 of bare Flask's throughput, or its p99 is above 30 ms, the
request path is profiled in-process with cProfile (no HTTP) and the top functions are printed,
with the CPU time per push measured without the profiler (the thread's CPU time, which the
machine's load moves less than wall time), and the same pushes from one thread against 16
threads at once (process CPU and context switches per push). Each target's worker context
switches per request are printed with its figures (a voluntary one is mostly a thread that
waited for the GIL after a socket, SQLite or numpy call let it go).

usage: .venv/bin/python bench/webhook_bench.py [--duration 10] [--warmup 2] [--connections 32]
       [--threads 1] [--requests 40000] [--publish-every 2] [--baseline PATH] [--rounds 3]
       [--profile | --no-profile]
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import benchkit  # noqa: E402
from benchkit import MAX_SKEW, ROOT, RequestMaker  # noqa: E402

LUA = Path(__file__).resolve().parent / "wrk_replay.lua"
TARGETS = [  # (label, server kind, message mode)
    ("bare Flask", "bare", "plain"),
    ("反诈助手, plaintext", "app", "plain"),
    ("反诈助手, safe (AES)", "app", "safe"),
]
RATIO_GOAL, P99_GOAL_MS = 0.45, 30.0


def write_requests(path: Path, maker: RequestMaker, texts: list[str]) -> None:
    """One distinct push per text, one 'path<TAB>body' line each."""
    with open(path, "wb") as f:
        for text in texts:
            url, body = maker.make(text)
            assert b"\t" not in body and b"\n" not in body
            f.write(url.encode() + b"\t" + body + b"\n")


class Publisher:
    """Publishes an edit of one case every ``every`` seconds while it runs, as an admin would
    (bot.content.editing.save_item: version row, audit row, content_version bumped)."""

    def __init__(self, server: benchkit.Server, every: float):
        import threading

        self.server, self.every = server, every
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        from bot.content.editing import save_item
        from bot.storage.db import connect

        db = connect(self.server.workdir / "bot.db")
        case_id = "official-96110-call"
        original = db["cases"].get(case_id)["source"]
        while not self._stop.wait(self.every):
            self.count += 1
            source = original.replace("examples:\n", f"examples:\n  - 发布测试第{self.count}次"
                                      f"：有人冒充反诈中心打电话\n", 1)
            result = save_item(db, "case", source, "bench", ROOT / "content",
                               expected_id=case_id)
            assert result.ok, result.problems


def run_wrk(url: str, datafile: Path, seconds: float, connections: int, threads: int,
            expect: str) -> dict:
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
            "--timeout", "10s", "--latency", "-s", str(LUA), url + "/wechat",
            "--", str(datafile), str(threads), expect]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            result = json.loads(line[len("WRKJSON "):])
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            return result
    raise RuntimeError(f"no WRKJSON line in wrk output:\n{done.stdout}\n{done.stderr}")


def sanity_check(server: benchkit.Server, maker: RequestMaker, expect: str) -> None:
    """One request by hand before the load: a wrong signature would otherwise show only as
    a wall of 403s."""
    url, body = maker.make("有人让我把钱转到安全账户")
    status, reply = benchkit.post(server.port, url, body)
    if status != 200 or not reply.decode("utf-8", "replace").startswith(expect):
        raise RuntimeError(f"{server.name}: sanity request got {status} {reply[:200]!r}\n"
                           f"{server.log_tail()}")


def bench_target(label: str, kind: str, mode: str, a, tmp: Path, texts: list[str],
                 publish_every: float = 0, root: Path = ROOT) -> dict:
    server = benchkit.start_server(kind, root=root, workers=a.server_workers,
                                   threads=a.server_threads)
    try:
        expect = "<xml>" if kind == "app" else "success"
        maker = RequestMaker(mode)
        generated_at = time.time()  # oldest timestamp in the files
        sanity_check(server, maker, expect)
        warm_file, main_file = tmp / f"{kind}-{mode}-warm.txt", tmp / f"{kind}-{mode}-main.txt"
        warm = max(2000, a.requests // 4)
        write_requests(warm_file, maker, texts[:warm])
        write_requests(main_file, maker, texts[warm:warm + a.requests])
        gen_seconds = time.time() - generated_at
        run_wrk(server.url, warm_file, a.warmup, a.connections, a.threads, expect)
        workers = server.worker_pids()
        cpu_before = [benchkit.cpu_split(p) for p in workers]
        switches_before = [benchkit.context_switches(p) for p in workers]
        if publish_every:
            with Publisher(server, publish_every) as publisher:
                result = run_wrk(server.url, main_file, a.duration, a.connections, a.threads,
                                 expect)
            result["publishes"] = publisher.count
        else:
            result = run_wrk(server.url, main_file, a.duration, a.connections, a.threads, expect)
        cpu_after = [benchkit.cpu_split(p) for p in workers]
        switches_after = [benchkit.context_switches(p) for p in workers]
        user = sum(u1 - u0 for (u0, _), (u1, _) in zip(cpu_before, cpu_after))
        system = sum(s1 - s0 for (_, s0), (_, s1) in zip(cpu_before, cpu_after))
        result["worker_cpu_ms"] = (user + system) * 1000 / max(1, result["requests"])
        result["worker_sys_ms"] = system * 1000 / max(1, result["requests"])
        result["switches"] = [sum(after[k] - before[k] for before, after in
                                  zip(switches_before, switches_after)) / max(1, result["requests"])
                              for k in (0, 1)]   # (voluntary, involuntary) per request
        result["window_age_s"] = time.time() - generated_at
        result["gen_seconds"] = gen_seconds
        result["workers_rss_mb"] = [benchkit.rss_kb(p) / 1024 for p in server.worker_pids()]
        result["label"] = label
        return result
    finally:
        server.stop()


# Stages of one push, as (file suffix, function) whose cumulative time is reported.
STAGES = [
    ("query string", "bot/wechat/webhook.py", "query_args"),
    ("signature + timestamp check", "bot/wechat/protocol.py", "check_request"),
    ("parse XML (and decrypt)", "bot/wechat/protocol.py", "open"),
    ("redelivery + signed nonce check (one SELECT)", "bot/wechat/deliveries.py", "lookup"),
    ("route + answer (engine, distinct texts)", "bot/wechat/router.py", "dispatch"),
    ("render reply XML", "bot/wechat/protocol.py", "render_text"),
    ("record reply + question (batched)", "bot/wechat/deliveries.py", "record"),
    ("encrypt reply", "bot/wechat/protocol.py", "seal"),
]


def _cumulative(stats, suffix: str, func: str) -> float:
    return sum(v[3] for (file, _, name), v in stats.stats.items()
               if name == func and file.endswith(suffix))


def profile_in_process(mode: str, n: int = 1500, top: int = 10) -> None:
    """cProfile the app's WSGI call for ``n`` pushes (no HTTP, no gunicorn, one process, so no
    SQLite lock waits): where does a push's CPU time go?"""
    import logging

    from werkzeug.test import EnvironBuilder

    from bot import create_app
    from bot.config import ServerSettings, load_settings

    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    try:
        config = benchkit.write_config(workdir, benchkit.free_port())
        benchkit.init_db(config)
        app = create_app(load_settings(config))
        logging.getLogger("bot").setLevel(logging.WARNING)
        maker = RequestMaker(mode)

        def environ_for(text):
            url, body = maker.make(text)
            path, query = url.split("?", 1)
            return EnvironBuilder(path=path, query_string=query, method="POST", data=body,
                                  content_type="text/xml").get_environ()

        def call(env):
            status = []
            body = b"".join(app(env, lambda s, h, exc_info=None: status.append(s)))
            assert status[0].startswith("200") and body.startswith(b"<xml>"), (status, body[:80])

        # Each mode its own texts: both run in one process, which keeps the engine (and its
        # answer cache) of the first, so the second would otherwise meet answered texts.
        per_mode = 200 + 4 * n
        part = ("plain", "safe").index(mode)
        texts = iter(benchkit.distinct_texts(2 * per_mode, seed=11)[part * per_mode:])
        for _ in range(200):  # warm SQLite pages and lazy imports, unprofiled
            call(environ_for(next(texts)))
        environs = [environ_for(next(texts)) for _ in range(n)]
        chunks = []  # three timed thirds, median taken: the machine may be busy
        for part in range(3):
            chunk = environs[part::3]
            started, cpu_started = time.perf_counter(), time.thread_time()
            for env in chunk:
                call(env)
            chunks.append(((time.thread_time() - cpu_started) * 1000 / len(chunk),
                           (time.perf_counter() - started) * 1000 / len(chunk)))
        cpu_ms, wall_ms = sorted(chunks)[1]
        threads = ServerSettings.threads
        one, many = threads_against_one(call, [environ_for(next(texts)) for _ in range(2 * n)],
                                        threads)
        environs = [environ_for(next(texts)) for _ in range(n)]
        prof = cProfile.Profile(time.thread_time)
        prof.enable()
        for env in environs:
            call(env)
        prof.disable()
        stats = pstats.Stats(prof)
        total = _cumulative(stats, "flask/app.py", "__call__")
        view = _cumulative(stats, "bot/wechat/webhook.py", "receive_push")
        print(f"\n#### cProfile, {mode} mode, {n} pushes in one process: {cpu_ms:.2f} ms CPU "
              f"({wall_ms:.2f} ms wall) per push without the profiler, {total * 1000 / n:.2f} ms "
              "CPU with it\n")
        print(f"Process CPU (all threads, the writer's too) with {n} pushes from one thread, "
              f"then {n} more from {threads} threads at once as a gthread worker runs them: "
              f"{one[0] * 1000:.2f} and {many[0] * 1000:.2f} ms per push; context switches per "
              f"push {one[1]:.1f} and {many[1]:.1f} voluntary, {one[2]:.1f} and {many[2]:.1f} "
              "involuntary\n")
        print("| stage | ms/push (profiled) | share |")
        print("|---|---:|---:|")
        rows = [(label, _cumulative(stats, f, fn)) for label, f, fn in STAGES]
        rows = [(label, t) for label, t in rows if t]
        inside = [(label, t) for label, t in rows if label != "query string"]
        rows.append(("rest of receive_push (residents' loop probe, hash, ...)",
                     view - sum(t for _, t in inside)))
        rows.append(("WSGI layer outside receive_push (lean path: headers, access line)",
                     total - view - dict(rows).get("query string", 0)))
        for label, t in rows:
            print(f"| {label} | {t * 1000 / n:.3f} | {100 * t / total:.0f}% |")
        sql = sum(v[2] for (file, _, name), v in stats.stats.items()
                  if "sqlite3.Connection" in name or "sqlite3.Cursor" in name)
        print(f"| (across stages: time inside sqlite3 execute) | {sql * 1000 / n:.3f} | "
              f"{100 * sql / total:.0f}% |")
        print("\nTop functions by own time:\n")
        print("| function | own ms/push | share |")
        print("|---|---:|---:|")
        for (file, line, func), v in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]:
            where = file.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
            where = where.split("/lib/python3.11/")[-1]
            print(f"| `{where}:{line}({func})` | {v[2] * 1000 / n:.3f} | "
                  f"{100 * v[2] / total:.0f}% |")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def threads_against_one(call, environs: list, threads: int) -> list[tuple[float, ...]]:
    """(process CPU seconds, voluntary and involuntary context switches) per push for the
    first half of ``environs`` called from one thread and the second half from ``threads``
    threads at once: what the threads of a worker cost beyond the pushes' own work (the
    GIL handed over at every socket, SQLite and large numpy call), without HTTP."""
    import resource
    import threading

    def usage():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime, r.ru_nvcsw, r.ru_nivcsw

    half = len(environs) // 2
    figures = []
    for count, batch in ((1, environs[:half]), (threads, environs[half:])):
        pending, lock = iter(batch), threading.Lock()

        def work():
            while True:
                with lock:
                    env = next(pending, None)
                if env is None:
                    return
                call(env)

        before = usage()
        workers = [threading.Thread(target=work) for _ in range(count)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        figures.append(tuple((b - a) / len(batch) for a, b in zip(before, usage())))
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per target")
    ap.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per target")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1,
                    help="wrk threads (1 leaves the CPU to gunicorn on small machines)")
    ap.add_argument("--requests", type=int, default=40000,
                    help="distinct pushes generated per measured run")
    ap.add_argument("--publish-every", type=float, default=0,
                    help="also measure plaintext while publishing a case every S seconds")
    ap.add_argument("--baseline", type=Path, default=None, metavar="PATH",
                    help="also measure (plaintext) the app of another checkout of the project, "
                         "side by side in every round")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of all targets; the median round per target is reported "
                         "(the load generator shares the cores, so single runs are noisy)")
    ap.add_argument("--server-workers", type=int, default=None,
                    help="gunicorn workers of every target (default: as `serve`)")
    ap.add_argument("--server-threads", type=int, default=None,
                    help="gthread threads per worker of every target (default: as `serve`)")
    prof = ap.add_mutually_exclusive_group()
    prof.add_argument("--profile", action="store_true", help="always run the cProfile step")
    prof.add_argument("--no-profile", action="store_true", help="never run it")
    a = ap.parse_args()
    if a.duration > 30 or a.warmup > 10 or a.requests > 200000 or a.connections > 256:
        ap.error("keep runs bounded: --duration <= 30, --warmup <= 10, --requests <= 200000, "
                 "--connections <= 256")
    if shutil.which("wrk") is None:
        print("wrk is not installed; it generates the load for this benchmark.\n"
              "Install it (Debian/Ubuntu): apt-get update && apt-get install -y wrk",
              file=sys.stderr)
        return 2

    started = time.time()
    targets = TARGETS + ([(f"反诈助手, plaintext, publishing every {a.publish_every:g} s", "app",
                           "plain")] if a.publish_every else [])
    if a.baseline:
        if not (a.baseline / "bot" / "__init__.py").is_file():
            ap.error(f"--baseline {a.baseline}: not a checkout of this project")
        targets.append((f"baseline {a.baseline.name}, plaintext", "app", "plain"))
    texts = benchkit.distinct_texts(max(2000, a.requests // 4) + a.requests)
    load_before = os.getloadavg()[0]
    rounds: list[list[dict]] = []
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        for n in range(a.rounds):
            this_round = []
            for label, kind, mode in targets:
                print(f"... round {n + 1}/{a.rounds}: {label}", file=sys.stderr, flush=True)
                this_round.append(bench_target(
                    label, kind, mode, a, Path(tmp), texts,
                    a.publish_every if "publishing" in label else 0,
                    a.baseline if label.startswith("baseline") else ROOT))
            bare_rps = this_round[0]["rps"]
            for r in this_round:
                r["ratio"] = r["rps"] / bare_rps   # paired with the bare run of the same round
            rounds.append(this_round)
    results = []
    for i in range(len(targets)):   # per target, the round with the median ratio
        runs = sorted((rnd[i] for rnd in rounds), key=lambda r: (r["ratio"], r["rps"]))
        results.append(runs[len(runs) // 2])

    print(f"\n### Webhook: signed WeChat text pushes, {a.connections} connections, "
          f"{a.duration:g} s after {a.warmup:g} s warm-up\n")
    print("| target | req/s | p50 ms | p99 ms | ratio to bare Flask | worker CPU ms/request "
          "(of it system) | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['label']} | {r['rps']:.0f} | {r['p50_us'] / 1000:.1f} | "
              f"{r['p99_us'] / 1000:.1f} | {r['ratio']:.2f} | {r['worker_cpu_ms']:.2f} "
              f"({r['worker_sys_ms']:.2f}) | {r['non_2xx']} |")
    if a.rounds > 1:
        print(f"\n(median of {a.rounds} rounds; ratios per round: " + "; ".join(
            f"{t[0]}: " + ", ".join(f"{rnd[i]['ratio']:.2f}" for rnd in rounds)
            for i, t in enumerate(targets) if i) + ";\nworker CPU ms/request per round: " +
            "; ".join(f"{t[0]}: " + ", ".join(f"{rnd[i]['worker_cpu_ms']:.2f}" for rnd in rounds)
                      for i, t in enumerate(targets)) + ")")

    from bot.config import ServerSettings  # noqa: PLC0415 - after sys.path is set

    print(f"\ngunicorn as `serve`: gthread, {a.server_workers or ServerSettings.workers} workers"
          f" x {a.server_threads or ServerSettings.threads} threads, --preload, "
          f"--no-control-socket, 127.0.0.1; load average before the run "
          f"{load_before:.1f}, after {os.getloadavg()[0]:.1f}; wrk {a.threads} "
          f"thread(s) on the same {os.cpu_count()}-CPU machine; Python "
          f"{sys.version.split()[0]}.")
    print(f"Goals: ratio to bare Flask >= {RATIO_GOAL}, p99 <= {P99_GOAL_MS:g} ms, "
          "non-2xx = 0.\n")
    problems = []
    for r in results:
        errors = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
        reused = f"{r['reused']} reused" + (" (it ignores them)" if r["label"] == "bare Flask"
                                            else "")
        print(f"- {r['label']}: {r['requests']} responses; {r['distinct']} distinct pushes "
              f"loaded, {reused}; p90 {r['p90_us'] / 1000:.1f} ms, max {r['max_us'] / 1000:.1f}"
              f" ms; worker CPU {r['worker_cpu_ms']:.2f} ms per request; unexpected bodies "
              f"{r['bad_body']}; worker context switches per request {r['switches'][0]:.1f} "
              f"voluntary, {r['switches'][1]:.1f} involuntary; socket errors {errors}; run ended {r['window_age_s']:.0f} s "
              f"after the oldest timestamp (window {MAX_SKEW} s); worker RSS "
              f"{', '.join(f'{m:.0f}' for m in r['workers_rss_mb'])} MB"
              + (f"; {r['publishes']} publishes during the run" if "publishes" in r else ""))
        if r["non_2xx"] or r["bad_body"] or errors:
            problems.append(f"{r['label']}: non-2xx {r['non_2xx']}, bad bodies {r['bad_body']}, "
                            f"socket errors {errors}")
        if r["window_age_s"] >= MAX_SKEW:
            problems.append(f"{r['label']}: run outlived the {MAX_SKEW} s timestamp window")
        if r["reused"] and r["label"] != "bare Flask":  # reused pushes hit the dedup path
            problems.append(f"{r['label']}: {r['reused']} pushes reused (raise --requests)")
    print(f"\nwall time {time.time() - started:.0f} s")

    app_results = [r for r in results if r["label"] != "bare Flask"]
    slow = [r for r in app_results
            if r["ratio"] < RATIO_GOAL or r["p99_us"] / 1000 > P99_GOAL_MS]
    if a.profile or (slow and not a.no_profile):
        why = ", ".join(f"{r['label']} ratio {r['ratio']:.2f} p99 {r['p99_us'] / 1000:.0f} ms"
                        for r in slow) or "--profile"
        print(f"\nProfiling because: {why}")
        for mode in ("plain", "safe"):
            profile_in_process(mode)
    for p in problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
