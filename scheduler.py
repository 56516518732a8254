"""The push scheduler: weekly tips and 本周预警 alerts into group chats, exactly once.

    python scheduler.py                      run until Ctrl-C (make run starts it with the server)
    python scheduler.py --once [--now ISO]   one tick at NOW, then exit
    python scheduler.py --dry-run --until 2026-11-30T10:00   print what would be sent where

Exactly one scheduler may run: a lock file (``scheduler.lock_path``) refuses a second one, so it
never runs inside the web server's workers. APScheduler fires a tick at every configured send
time and every ``scheduler.tick_seconds`` (for retries and catch-up after a restart); each tick
asks the push log what is still due, so a tick that fires twice or late does no harm.
"""
from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import load_settings, parse_slot
from bot.errors import BotError
from bot.logs import configure_logging
from bot.pushing.push_log import record_heartbeat
from bot.pushing.pusher import Pusher
from bot.storage.db import connect, make_db_factory
from bot.storage.library import ensure_database
from bot.storage.retention import purge

log = logging.getLogger("scheduler")


def acquire_lock(path):
    """Hold an exclusive lock for the life of the process; None if another scheduler has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - kept open on purpose: the lock lives with it
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def dry_run(settings, until: datetime, now: datetime) -> list[str]:
    """What would be sent where between now and until: the scheduler's own planner, with the
    push log and the 本周预警 alerts as they are now."""
    db = connect(settings.database.path)
    ensure_database(db, settings.content.dir)
    pusher = Pusher(settings, lambda: db, time.time, time.sleep)
    due = pusher.plan((now, until), now)
    lines = []
    rows = [(job.slot, job.group, job) for job in due.jobs] + \
        [(job.slot, job.group, None) for job, _ in due.skipped]
    for slot, group, job in sorted(rows, key=lambda r: (r[0], r[1].id, r[2] and r[2].message_key)):
        if job is None:
            what = "(no tip fits: skipped)"
        elif job.message_key == "tip":
            what = f"{job.item_id}  {job.message.title}"
        else:
            what = f"本周预警 {job.message_key} {job.item_id}  {job.message.title}"
        lines.append(f"{slot:%Y-%m-%d %a %H:%M}  {group.id} ({group.name}, {group.channel})  {what}")
    return lines


RETENTION_TIME = (3, 17)   # daily, local time: a quiet hour, off the round minutes


def tick(pusher: Pusher, db_factory, now: datetime):
    """One tick: send what is due, then record the heartbeat /healthz reads."""
    report = pusher.run_due(now)
    record_heartbeat(db_factory(), time.time())
    return report


def apply_retention(settings, db_factory, now: datetime) -> dict:
    """The daily retention job (see bot.storage.retention)."""
    return purge(db_factory(), now, settings.retention.question_months)


def expire_abandoned_leads(settings, db_factory, now: datetime) -> int:
    """举报 conversations left half-way become incomplete leads for staff (bot/loop/leads.py)."""
    from bot.loop.leads import LeadDesk
    s = settings.loop
    return LeadDesk(db_factory(), s.lead_session_minutes, s.max_leads_per_day) \
        .expire_abandoned(now)


def index_builder(settings, db_factory):
    """The answer index is built here too, at each tick when the content version moved, so
    web workers find it ready instead of building it themselves."""
    from bot.answering.index import IndexStore, default_index_dir
    from bot.answering.service import IndexBuilder
    from bot.storage.library import PublishedContent

    return IndexBuilder(PublishedContent(db_factory, settings.content.dir), settings.content.dir,
                        IndexStore(default_index_dir(settings.database.path)))


def late_answers_job(settings, db_factory):
    """Answers that come later (bot/loop/late_answers.py), run by each tick: one indexed read
    while published content is unchanged; the answer engine is built only when it moves."""
    state = {}

    def run(now: datetime) -> dict:
        try:
            return _run(now)
        except Exception:  # noqa: BLE001 - late answers must never stop the pushes
            log.exception("late answers failed; will try again at the next tick")
            return {}

    def _run(now: datetime) -> dict:
        from bot.storage.library import content_version
        if "loop" not in state:
            db = db_factory()
            version = str(content_version(db))
            row = db.execute("SELECT value FROM meta WHERE key = ?",
                             ["late_answers_content_version"]).fetchone()
            if row is None:   # first run: only what is published from now on comes "later"
                db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                           ["late_answers_content_version", version])
                return {}
            if row[0] == version:
                return {}
            from bot.answering.index import default_index_dir
            from bot.answering.service import AnswerService
            from bot.loop.service import ResidentLoop
            from bot.storage.library import PublishedContent
            # The index the tick's builder just saved is loaded, not built a second time.
            answers = AnswerService(PublishedContent(db_factory, settings.content.dir),
                                    settings.content.dir, settings.server.public_url,
                                    settings.wechat.reply_max_bytes,
                                    local=settings.local.as_dict(),
                                    index_dir=default_index_dir(settings.database.path))
            state["loop"] = ResidentLoop(db_factory, settings, answers, reader=None)
        return state["loop"].deliver_late_answers(now)
    return run


def run_forever(settings, pusher: Pusher, db_factory, builder=None, late=None) -> None:
    tz = pusher.tz
    scheduler = BlockingScheduler(timezone=tz, job_defaults={
        # APScheduler's default grace is 1 s; a late tick is still useful (the log decides).
        "misfire_grace_time": settings.scheduler.grace_hours * 3600 or 60,
        "coalesce": True, "max_instances": 1})

    def run_tick():
        if builder is not None:
            try:
                builder.build()
            except Exception:  # noqa: BLE001 - pushes go on; workers keep their index
                log.exception("building the answer index failed; will try again")
        try:
            report = tick(pusher, db_factory, datetime.now(tz))
            if late is not None:
                late(datetime.now(tz))
            expire_abandoned_leads(settings, db_factory, datetime.now(tz))
            if report.details or report.missed:
                log.info("tick: sent %d, failed %d, skipped %d, missed %d, retried %d, "
                         "unknown %d", report.sent, report.failed, report.skipped, report.missed,
                         report.retried, report.unknown)
            if any(report.follow_up.values()):
                log.info("follow-up: %s", report.follow_up)
        except Exception:  # noqa: BLE001 - one bad tick must not stop the scheduler
            log.exception("tick failed; will try again at the next one")

    def run_retention():
        try:
            apply_retention(settings, db_factory, datetime.now(tz))
        except Exception:  # noqa: BLE001 - tried again tomorrow; the ticks go on
            log.exception("retention job failed; it runs again tomorrow")

    # One job does all the work; several triggers wake it: each weekly send time, and a
    # short interval for retries and catch-up.
    times = sorted({parse_slot(e) for g in settings.groups for e in g.schedule})
    for day, hour, minute in times:
        scheduler.add_job(run_tick, CronTrigger(day_of_week=day, hour=hour, minute=minute, timezone=tz),
                          id=f"slot-{day}-{hour:02d}{minute:02d}")
    scheduler.add_job(run_tick, IntervalTrigger(seconds=settings.scheduler.tick_seconds,
                                                timezone=tz),
                      id="tick", next_run_time=datetime.now(tz))
    scheduler.add_job(run_retention, CronTrigger(hour=RETENTION_TIME[0], minute=RETENTION_TIME[1],
                                                 timezone=tz), id="retention")
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    log.info("scheduler running: %d group(s), %d weekly send time(s)", len(settings.groups),
             len(times))
    for group in settings.groups:
        if group.problem:
            log.error("group %s is skipped: %s", group.id, group.problem)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Weekly anti-fraud tips into group chats.")
    ap.add_argument("--config", help="config file (default: $BOT_CONFIG or ./config.toml)")
    ap.add_argument("--once", action="store_true", help="run one tick and exit")
    ap.add_argument("--now", help="ISO time to use as now for --once/--dry-run (tests, replays)")
    ap.add_argument("--dry-run", action="store_true", help="print what would be sent; send nothing")
    ap.add_argument("--until", help="end of the dry run, ISO time (default: one week ahead)")
    args = ap.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except BotError as exc:
        print(f"scheduler: {exc.message}", file=sys.stderr)
        return 2
    configure_logging(settings.logging)
    tz = ZoneInfo(settings.scheduler.timezone)

    def parse_time(value):
        t = datetime.fromisoformat(value)
        return t if t.tzinfo else t.replace(tzinfo=tz)

    now = parse_time(args.now) if args.now else datetime.now(tz)
    if args.dry_run:
        until = parse_time(args.until) if args.until else now.replace(microsecond=0) + \
            (datetime.fromisoformat("2000-01-08") - datetime.fromisoformat("2000-01-01"))
        for line in dry_run(settings, until, now):
            print(line)
        return 0
    lock = acquire_lock(settings.scheduler.lock_path)
    if lock is None:
        print(f"scheduler: another scheduler holds {settings.scheduler.lock_path}; "
              "exactly one may run", file=sys.stderr)
        return 1
    with lock:   # released when this returns (the process's end releases it anyway)
        return _run(settings, args.once, now)


def _run(settings, once: bool, now: datetime) -> int:
    db_factory = make_db_factory(settings.database.path)
    ensure_database(db_factory(), settings.content.dir)
    pusher = Pusher(settings, db_factory, time.time, time.sleep)
    pusher.recover()
    late = late_answers_job(settings, db_factory)
    if once:
        report = tick(pusher, db_factory, now)
        late(now)
        expire_abandoned_leads(settings, db_factory, now)
        for detail in report.details:
            print(" ".join(detail))
        print(f"sent {report.sent}, failed {report.failed}, skipped {report.skipped}, "
              f"missed {report.missed}, retried {report.retried}, unknown {report.unknown}")
        if any(report.follow_up.values()):
            print(", ".join(f"{k} {v}" for k, v in report.follow_up.items()))
        return 0
    run_forever(settings, pusher, db_factory, index_builder(settings, db_factory), late)
    return 0

if __name__ == "__main__":
    sys.exit(main())
