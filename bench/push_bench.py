"""Scheduler benchmark: 1,000 groups, each with its own WeCom robot, all due Monday 09:00.

The fake WeCom server runs in its own process and adds 200 ms to every call, like a slow
network. The pusher runs in this process with real time: we measure the time until every group
has its tip (and an alert sent to all groups in the same slot), sends per minute per robot, CPU
and peak memory. A second, dense run sends a tip and an alert from 30 groups through ONE robot
on a fake clock (no waiting) to show the per-robot limit holds: never more than 20 in any 60 s.

usage: .venv/bin/python bench/push_bench.py [--groups 1000] [--delay 0.2]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bot.storage.db import make_db_factory  # noqa: E402
from bot.config import settings_from_mapping  # noqa: E402
from bot.storage.library import init_db  # noqa: E402
from bot.pushing.pusher import Pusher  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
SLOT = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)


def settings_for(tmp: Path, base_url: str, groups: list[dict]):
    return settings_from_mapping({
        "database": {"path": str(tmp / "bot.db")},
        "content": {"dir": str(ROOT / "content")},
        "wecom": {"base_url": base_url},
        "scheduler": {"lock_path": str(tmp / "s.lock"), "max_concurrent_sends": 64},
        "groups": groups,
    }, base_dir=tmp, environ={})


def groups_table(n: int, shared_key: str | None = None) -> list[dict]:
    audiences = ["elderly", "parents", "students", "women", "accountants", "migrant_workers",
                 "rural", "general"]
    return [{"id": f"g{i:04d}", "name": f"群{i}", "audiences": [audiences[i % len(audiences)]],
             "schedule": ["mon 09:00"], "channel": "wecom_robot",
             "robot_key": shared_key or f"key-{i:04d}"} for i in range(n)]


def add_alert(db) -> None:
    db["alerts"].insert({"item_kind": "case", "item_id": "authority-safe-account-isolation",
                         "groups": None, "note": "bench", "active": 1,
                         "created_at": datetime(2026, 11, 22, 12, 0, tzinfo=TZ).isoformat()})


def max_per_minute(times: list[float]) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 60:
            j += 1
        best = max(best, i - j + 1)
    return best


def run_wide(n: int, delay: float) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="push-bench-"))
    log = tmp / "received.jsonl"
    fake = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_wecom.py"), "--delay",
                             str(delay), "--log", str(log)], stdout=subprocess.PIPE, text=True)
    try:
        base_url = fake.stdout.readline().strip()
        settings = settings_for(tmp, base_url, groups_table(n))
        db_factory = make_db_factory(settings.database.path)
        init_db(db_factory(), settings.content.dir)
        add_alert(db_factory())
        pusher = Pusher(settings, db_factory, time.time, time.sleep)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        report = pusher.run_due(SLOT)
        wall = time.perf_counter() - started
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    received = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    by_key: dict[str, list[float]] = {}
    for m in received:
        by_key.setdefault(m["key"], []).append(m["at"])
    statuses = {}
    for (status,) in db_factory().execute("SELECT status FROM pushes").fetchall():
        statuses[status] = statuses.get(status, 0) + 1
    return {"groups": n, "messages": len(received), "sent": report.sent, "failed": report.failed,
            "statuses": statuses, "wall_s": wall,
            "cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
            "max_per_min": max(max_per_minute(v) for v in by_key.values()),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_dense(groups_on_one_robot: int = 30) -> dict:
    """Tip + alert from many groups through one robot, on a fake clock: the limiter waits."""
    from fake_wecom import FakeWeCom

    class Clock:
        now = 1_800_000_000.0

        def time(self):
            return self.now

        def sleep(self, s):
            self.now += s

    clock = Clock()
    fake = FakeWeCom(clock=clock.time).start()
    tmp = Path(tempfile.mkdtemp(prefix="push-bench-dense-"))
    try:
        settings = settings_for(tmp, fake.base_url, groups_table(groups_on_one_robot, "key-one"))
        db_factory = make_db_factory(settings.database.path)
        init_db(db_factory(), settings.content.dir)
        add_alert(db_factory())
        report = Pusher(settings, db_factory, clock.time, clock.sleep).run_due(SLOT)
    finally:
        fake.stop()
    times = [m["at"] for m in fake.received]
    rejected = fake.requests - len(fake.received)
    return {"messages": len(times), "sent": report.sent, "failed": report.failed,
            "max_per_min": max_per_minute(times), "rejected_45009": rejected,
            "fake_minutes": (max(times) - min(times)) / 60}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--delay", type=float, default=0.2)
    a = ap.parse_args()
    wide = run_wide(a.groups, a.delay)
    dense = run_dense()
    print(f"### Push scheduler: {a.groups} groups, one robot each, all due Monday 09:00, "
          f"fake WeCom adds {int(a.delay * 1000)} ms per call\n")
    print("| scenario | messages | sent / failed | time until all sent | max sends per robot per minute | CPU | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| {a.groups} groups: tip + 本周预警 alert each | {wide['messages']} | "
          f"{wide['sent']} / {wide['failed']} | {wide['wall_s']:.1f} s (goal < 60 s) | "
          f"{wide['max_per_min']} (limit 20) | {wide['cpu_s']:.1f} s | {wide['peak_rss_mb']:.0f} MB |")
    print(f"| 30 groups on ONE robot: tip + alert each (fake clock) | {dense['messages']} | "
          f"{dense['sent']} / {dense['failed']} | {dense['fake_minutes']:.1f} min of fake time | "
          f"{dense['max_per_min']} (limit 20); 45009 answers: {dense['rejected_45009']} | | |")
    print(f"\npush log statuses (wide run): {wide['statuses']}")
    ok = (wide["wall_s"] < 60 and wide["failed"] == 0 and wide["max_per_min"] <= 20
          and dense["max_per_min"] <= 20 and dense["rejected_45009"] == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
