"""Village-group benchmark: 1,000 village groups, 300 grid workers, twice a week.

Part 1, planning and sending. 800 groups are reached through 300 grid workers (200 by WeCom app
message, 100 through their worker group's robot), 200 are customer groups of 20 owners. All are
due Monday 09:00 and Thursday 19:30, with a 本周预警 alert to every group on Monday. The fake WeCom
API (tests/fake_wecom_api.py) runs in its own process with WeCom's limits (10,000 calls of one
API a minute, 30 app messages a minute to one member, 20 a minute per robot, 1 customer-group
mass send per group per day) and adds ``--delay`` to every call. We measure planning, the time
until every worker and owner has their message, the owners' tasks polled to the end, and the
limits as the fake saw them.

Part 2, the relay confirmation endpoint: gunicorn with 2 workers (as ``python -m bot serve``),
taps at ``--rate`` a second for ``--seconds`` from a small threaded client on 127.0.0.1, every
tap a distinct link (so each one writes), plus 10% repeated taps (已记录过).

usage: .venv/bin/python bench/relay_bench.py [--delay 0.1] [--rate 200] [--seconds 10]
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import benchkit  # noqa: E402
from bot.config import settings_from_mapping  # noqa: E402
from bot.pushing.pusher import Pusher  # noqa: E402
from bot.pushing.relay_links import make_token  # noqa: E402
from bot.storage.db import connect, make_db_factory  # noqa: E402
from bot.storage.library import init_db  # noqa: E402
from fake_wecom_api import AGENT_ID, CORP_ID, SECRET  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
THURSDAY = datetime(2026, 11, 26, 19, 30, tzinfo=TZ)
SECRET_RELAY = "bench-relay-secret-0123456789"
AUDIENCES = ["elderly", "parents", "rural", "general", "women", "migrant_workers"]


def max_per_minute(times: list[float]) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 60:
            j += 1
        best = max(best, i - j + 1)
    return best


def village_config(workers: int, relay_groups: int, owners: int, per_owner: int):
    grid = [{"id": f"w{i:04d}", "name": f"网格员{i}", "userid": f"w{i:04d}"}
            if i <= workers * 2 // 3 else
            {"id": f"w{i:04d}", "name": f"网格员{i}", "robot_key": f"key-wg-{i:04d}"}
            for i in range(1, workers + 1)]
    groups = [{"id": f"v{i:04d}", "name": f"村{i}组群", "area": f"村{i % 50}",
               "audiences": [AUDIENCES[i % len(AUDIENCES)]],
               "schedule": ["mon 09:00", "thu 19:30"], "channel": "relay",
               "relay_by": f"w{i % workers + 1:04d}"} for i in range(relay_groups)]
    owner_chats = {}
    for o in range(1, owners + 1):
        owner_chats[f"owner{o:02d}"] = [f"wr-{o:02d}-{k:03d}" for k in range(per_owner)]
        for k, chat in enumerate(owner_chats[f"owner{o:02d}"]):
            groups.append({"id": f"c{o:02d}{k:03d}", "name": f"社区{o}客户群{k}",
                           "area": f"社区{o}", "audiences": [AUDIENCES[k % len(AUDIENCES)]],
                           "schedule": ["mon 09:00", "thu 19:30"],
                           "channel": "wecom_customer_group", "owner": f"owner{o:02d}",
                           "chat_id": chat})
    return grid, groups, owner_chats


def fake_state(base: str) -> dict:
    with urllib.request.urlopen(f"{base}/_fake/state", timeout=30) as r:
        return json.loads(r.read())


def fake_control(base: str, what: str, body: dict) -> dict:
    req = urllib.request.Request(f"{base}/_fake/{what}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def run_sending(delay: float, workers: int = 300, relay_groups: int = 800, owners: int = 20,
                per_owner: int = 10) -> dict:
    grid, groups, owner_chats = village_config(workers, relay_groups, owners, per_owner)
    owners_arg = ",".join(f"{o}={'+'.join(c)}" for o, c in owner_chats.items())
    tmp = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    fake = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_wecom_api.py"),
                             "--members-count", str(workers), "--owners", owners_arg,
                             "--delay", str(delay)], stdout=subprocess.PIPE, text=True)
    out: dict = {"groups": len(groups), "workers": workers}
    try:
        base = fake.stdout.readline().strip()
        settings = settings_from_mapping({
            "database": {"path": str(tmp / "bot.db")}, "content": {"dir": str(ROOT / "content")},
            "wecom": {"base_url": base, "corp_id": CORP_ID, "agent_id": AGENT_ID,
                      "app_secret": SECRET, "poll_first_seconds": 60},
            "relay": {"secret": SECRET_RELAY},
            "scheduler": {"lock_path": str(tmp / "s.lock"), "max_concurrent_sends": 64},
            "groups": groups, "grid_workers": grid}, base_dir=tmp, environ={})
        db_factory = make_db_factory(settings.database.path)
        init_db(db_factory(), settings.content.dir)
        db_factory()["alerts"].insert({
            "item_kind": "case", "item_id": "authority-safe-account-isolation", "groups": None,
            "note": "bench", "active": 1,
            "created_at": datetime(2026, 11, 22, 12, 0, tzinfo=TZ).isoformat()})
        pusher = Pusher(settings, db_factory, time.time, time.sleep)
        for label, slot in (("monday", MONDAY), ("thursday", THURSDAY)):
            if label == "thursday":     # the fake's day moves on (its tokens expire: 42001)
                fake_control(base, "advance", {"seconds": (THURSDAY - MONDAY).total_seconds()})
            started = time.perf_counter()
            due = pusher.plan((slot - timedelta(minutes=1), slot), slot)
            out[f"{label}_plan_s"] = time.perf_counter() - started
            out[f"{label}_planned"] = len(due.jobs)
            out[f"{label}_skipped"] = len(due.skipped)
            started = time.perf_counter()
            report = pusher.run_due(slot)
            out[f"{label}_send_s"] = time.perf_counter() - started
            out[f"{label}_report"] = (report.sent, report.failed, report.unknown, report.skipped)
            # every owner confirms in their client; then the poller collects the answers
            for owner in owner_chats:
                fake_control(base, "confirm", {"owner": owner})
            fake_control(base, "advance", {"seconds": 10})
            started = time.perf_counter()
            follow = pusher.follow_up(slot + timedelta(minutes=2))
            out[f"{label}_poll_s"] = time.perf_counter() - started
            out[f"{label}_settled"] = follow.get("customer_groups_settled", 0)
        state = fake_state(base)
    finally:
        fake.terminate()
        fake.wait(timeout=10)
        fake.stdout.close()
    db = db_factory()
    out["receipts"] = dict(db.execute("SELECT state, COUNT(*) FROM receipts GROUP BY state"
                                      ).fetchall())
    out["pushes"] = dict(db.execute("SELECT status, COUNT(*) FROM pushes GROUP BY status"
                                    ).fetchall())
    per_member: dict[str, list[float]] = {}
    for m in state["app_messages"]:
        per_member.setdefault(m["touser"], []).append(m["at"])
    per_robot: dict[str, list[float]] = {}
    for m in state["robot_messages"]:
        per_robot.setdefault(m["key"], []).append(m["at"])
    out.update(app_messages=len(state["app_messages"]), robot_messages=len(state["robot_messages"]),
               dropped=state["dropped"], gettoken=state["gettoken_calls"], calls=state["calls"],
               tasks=len(state["tasks"]),
               max_member_per_min=max(map(max_per_minute, per_member.values())),
               max_robot_per_min=max(map(max_per_minute, per_robot.values())))
    return out


# -- part 2: taps ---------------------------------------------------------------------------------
def tap_server(count: int):
    workdir = Path(tempfile.mkdtemp(prefix="relay-bench-taps-"))
    port = benchkit.free_port()
    config = benchkit.write_config(workdir, port)
    config.write_text(config.read_text() + f'\n[relay]\nsecret = "{SECRET_RELAY}"\n',
                      encoding="utf-8")
    benchkit.init_db(config)
    db = connect(workdir / "bot.db")
    expires = datetime.now(timezone.utc) + timedelta(days=1)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    db["receipts"].insert_all(({
        "push_id": i, "group_id": f"v{i:05d}", "slot": "2026-11-23T09:00:00+08:00",
        "channel": "relay", "route": "w0001", "state": "awaiting", "handed_at": created,
        "expires_at": expires.isoformat(timespec="seconds"), "created_at": created, "polls": 0}
        for i in range(1, count + 1)), batch_size=1000)
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(benchkit.gunicorn_argv("bot:create_app()", port, 2), cwd=ROOT,
                                env=benchkit.bench_env(config), stdout=log,
                                stderr=subprocess.STDOUT)
    server = benchkit.Server("app", port, proc, workdir, log_path, config)
    benchkit.wait_ready(server)
    return server, int(expires.timestamp())


def run_taps(rate: int, seconds: float, threads: int = 16) -> dict:
    total = int(rate * seconds)
    fresh = int(total * 0.9)
    server, expires = tap_server(fresh)
    try:
        paths = [f"/r/{make_token(SECRET_RELAY, i, expires)}" for i in range(1, fresh + 1)]
        paths += [paths[i * 9] for i in range(total - fresh)]          # repeated taps
        order = list(range(total))
        # repeats come after their first tap: spread them over the second half
        order = order[:fresh // 2] + sorted(order[fresh // 2:], key=lambda i: (i * 7919) % total)
        for p in paths[:3]:     # warm both workers
            conn = http.client.HTTPConnection(benchkit.HOST, server.port, timeout=10)
            conn.request("GET", "/r/invalid")
            conn.getresponse().read()
        latencies, statuses, lock = [], {}, threading.Lock()
        counter = itertools.count()
        t0 = time.perf_counter() + 0.2

        def client():
            conn = http.client.HTTPConnection(benchkit.HOST, server.port, timeout=10)
            while True:
                n = next(counter)
                if n >= total:
                    return
                due = t0 + n / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                start = time.perf_counter()
                conn.request("GET", paths[order[n]])
                response = conn.getresponse()
                body = response.read().decode()
                took = time.perf_counter() - start
                kind = "已记录过" if "已记录过" in body else ("已记录" if "已记录" in body
                                                          else str(response.status))
                with lock:
                    latencies.append(took)
                    statuses[kind] = statuses.get(kind, 0) + 1

        pool = [threading.Thread(target=client) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        wall = time.perf_counter() - t0
        relayed = connect(server.workdir / "bot.db").execute(
            "SELECT COUNT(*) FROM receipts WHERE state = 'relayed'").fetchone()[0]
    finally:
        server.stop()
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"taps": total, "achieved_rate": total / wall, "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "max_ms": latencies[-1] * 1000, "answers": statuses,
            "relayed_rows": relayed}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay", type=float, default=0.1, help="seconds the fake adds per call")
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--skip-send", action="store_true")
    a = ap.parse_args()
    ok = True
    if not a.skip_send:
        s = run_sending(a.delay)
        print(f"### Village groups: {s['groups']} groups, {s['workers']} grid workers, twice a "
              f"week; fake WeCom API in its own process adds {int(a.delay * 1000)} ms per call\n")
        print("| slot | planned | skipped (day's limit) | plan | send until all handed over | "
              "sent / failed / unknown | poll after owners confirm | groups settled |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for label in ("monday", "thursday"):
            sent, failed, unknown, _ = s[f"{label}_report"]
            print(f"| {label} | {s[f'{label}_planned']} | {s[f'{label}_skipped']} | "
                  f"{s[f'{label}_plan_s']:.2f} s | {s[f'{label}_send_s']:.1f} s | "
                  f"{sent} / {failed} / {unknown} | {s[f'{label}_poll_s']:.1f} s | "
                  f"{s[f'{label}_settled']} |")
        print(f"\nWeCom as the fake saw it: {s['app_messages']} app messages, "
              f"{s['robot_messages']} robot messages, {s['tasks']} mass-send tasks, "
              f"{s['gettoken']} gettoken call(s); max {s['max_member_per_min']} app messages a "
              f"minute to one worker (limit 30), {s['dropped']} dropped; max "
              f"{s['max_robot_per_min']} a minute per robot (limit 20); calls {s['calls']}")
        print(f"receipts: {s['receipts']}; pushes: {s['pushes']}")
        ok &= (s["dropped"] == 0 and s["max_member_per_min"] <= 30
               and s["max_robot_per_min"] <= 20 and s["pushes"].get("failed", 0) == 0
               and s["pushes"].get("unknown", 0) == 0
               and s["monday_send_s"] < 60 and s["thursday_send_s"] < 60)
    t = run_taps(a.rate, a.seconds)
    print(f"\n### Relay confirmation endpoint: gunicorn 2 sync workers, {t['taps']} taps at "
          f"{a.rate}/s from 16 client threads on 127.0.0.1\n")
    print("| taps | achieved rate | p50 | p99 | max | answers | relays recorded |")
    print("|---:|---:|---:|---:|---:|---|---:|")
    print(f"| {t['taps']} | {t['achieved_rate']:.0f}/s | {t['p50_ms']:.1f} ms | "
          f"{t['p99_ms']:.1f} ms | {t['max_ms']:.0f} ms | {t['answers']} | {t['relayed_rows']} |")
    ok &= t["p99_ms"] < 50 and t["achieved_rate"] >= a.rate * 0.95
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
