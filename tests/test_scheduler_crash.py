"""A real scheduler process killed with SIGKILL mid-run and restarted: exactly once per slot."""
import os
import signal
import subprocess
import sys
import time

from bot.storage.db import make_db_factory
from bot.config import PROJECT_ROOT
from conftest import write_config
from fake_wecom import FakeWeCom

GROUPS = 30
SLOT = "2026-11-23T09:00:00+08:00"


def crash_config(tmp_path, base_url):
    groups = [{"id": f"g{i}", "name": f"群{i}", "audiences": ["elderly"], "schedule": ["mon 09:00"],
               "channel": "wecom_robot", "robot_key": f"key-{i}"} for i in range(GROUPS)]
    return write_config(tmp_path, groups, wecom={"base_url": base_url},
                        scheduler={"max_concurrent_sends": 2})


def start(cfg):
    return subprocess.Popen([sys.executable, str(PROJECT_ROOT / "scheduler.py"), "--config",
                             str(cfg), "--once", "--now", SLOT], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_mid_run_then_restart_sends_each_slot_at_most_once(tmp_path, content_dir):
    fake = FakeWeCom(delay=0.1).start()
    try:
        cfg = crash_config(tmp_path, fake.base_url)
        first = start(cfg)
        deadline = time.monotonic() + 60
        while len(fake.received) < 8 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.02)
        assert first.poll() is None, first.stderr.read().decode()[-2000:]
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=10)
        received_before = len(fake.received)
        assert 8 <= received_before < GROUPS

        second = start(cfg)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err.decode()[-2000:]
    finally:
        fake.stop()

    per_key = {}
    for m in fake.received:
        per_key[m["key"]] = per_key.get(m["key"], 0) + 1
    assert max(per_key.values()) == 1, "a slot was sent twice"
    db = make_db_factory(tmp_path / "bot.db")()
    statuses = {r["group_id"]: r["status"] for r in db["pushes"].rows}
    assert len(statuses) == GROUPS
    assert set(statuses.values()) <= {"sent", "unknown"}
    unknown = [g for g, s in statuses.items() if s == "unknown"]
    assert len(unknown) <= 2  # at most the sends in flight when it was killed
    for g, s in statuses.items():
        if s == "sent":
            assert per_key.get(f"key-{g[1:]}") == 1
    # running again sends nothing more
    again = subprocess.run([sys.executable, str(PROJECT_ROOT / "scheduler.py"), "--config",
                            str(cfg), "--once", "--now", SLOT], cwd=PROJECT_ROOT,
                           capture_output=True, text=True, timeout=120)
    assert "sent 0," in again.stdout


def test_a_second_scheduler_is_refused(tmp_path, content_dir):
    import fcntl
    cfg = crash_config(tmp_path, "http://127.0.0.1:9")
    with open(tmp_path / "scheduler.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)   # as a running scheduler does
        r = subprocess.run([sys.executable, str(PROJECT_ROOT / "scheduler.py"), "--config",
                            str(cfg), "--once", "--now", SLOT], cwd=PROJECT_ROOT,
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "exactly one may run" in r.stderr


def test_dry_run_prints_what_would_be_sent_where_and_sends_nothing(tmp_path, content_dir):
    cfg = crash_config(tmp_path, "http://127.0.0.1:9")
    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "scheduler.py"), "--config", str(cfg),
                        "--dry-run", "--now", "2026-11-22T10:00", "--until", "2026-11-30T10:00"],
                       cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # every group's two Monday slots in the window, each with a tip
    assert len(lines) == 2 * GROUPS
    assert lines[0].startswith("2026-11-23 Mon 09:00  g") and "tip-" in lines[0]
    assert sum("2026-11-30 Mon 09:00" in ln for ln in lines) == GROUPS
    for i in range(GROUPS):   # never the same tip twice to one group
        mine = [ln.split()[-2] for ln in lines if f"  g{i} (" in ln]
        assert len(mine) == 2 and mine[0] != mine[1]
    db = make_db_factory(tmp_path / "bot.db")()
    assert db["pushes"].count == 0


def test_push_command_sends_the_next_tip_now(tmp_path, content_dir):
    from click.testing import CliRunner

    from bot.cli import main
    fake = FakeWeCom().start()
    try:
        cfg = crash_config(tmp_path, fake.base_url)
        r = CliRunner().invoke(main, ["--config", str(cfg), "push", "--group", "g3"])
        assert r.exit_code == 0, r.output
        assert r.output.startswith("g3: tip-") and r.output.strip().endswith("sent")
        assert len(fake.messages_for("key-3")) == 1
        missing = CliRunner().invoke(main, ["--config", str(cfg), "push", "--group", "nope"])
        assert missing.exit_code == 1 and "no group 'nope'" in missing.output
    finally:
        fake.stop()
    row = next(make_db_factory(tmp_path / "bot.db")()["pushes"].rows)
    assert row["status"] == "sent" and row["message_key"].startswith("manual:")
