"""Running in production: a broken push group stays local, /healthz, logging without personal
data, the forwarded client address, backups under load, restore checks and retention."""
from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from bot import create_app
from bot.cli import main
from bot.config import settings_from_mapping
from bot.logs import TICK_LOGGERS, configure_logging, log_access
from bot.config import LoggingSettings
from bot.pushing.push_log import record_heartbeat
from bot.pushing.pusher import Pusher
from bot.storage.backup import BackupError, backup, check_backup, prune_backups, restore
from bot.storage.db import connect, make_db_factory
from bot.storage.retention import months_before, purge
from bot.web.healthz import health_report
from conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN, seed_folder
from fake_wecom import FakeWeCom
from wechat_client import WeChatSender, text_xml

TZ = ZoneInfo("Asia/Shanghai")
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
SECRET_KEY = "s3cret-session-key-for-tests"


def group(gid, channel="wecom_robot", **extra):
    return {"id": gid, "name": f"群{gid}", "area": "东村", "audiences": ["elderly"],
            "schedule": ["mon 09:00"], "channel": channel, **extra}


GROUPS = [group("a", robot_key="key-a"), group("b", robot_key_env="WECOM_KEY_B_UNSET"),
          group("c", "outbox")]


def make_settings(tmp_path, content_dir, groups=GROUPS, base_url="http://127.0.0.1:9", **extra):
    return settings_from_mapping({
        "database": {"path": str(tmp_path / "bot.db")},
        "content": {"dir": str(content_dir)},
        "wecom": {"base_url": base_url},
        "wechat": {"token": TEST_TOKEN, "aes_key": TEST_AES_KEY, "app_id": TEST_APP_ID,
                   "record_batch_ms": 0},
        "admin": {"secret_key": SECRET_KEY},
        "scheduler": {"lock_path": str(tmp_path / "scheduler.lock")},
        "groups": groups, **extra,
    }, base_dir=tmp_path, source="tests", environ={})


@pytest.fixture
def db_copy(tmp_path):
    """A copy of the session's loaded database (and its built index) in the test's folder."""
    seed_folder(tmp_path)
    return tmp_path / "bot.db"


# -- one broken group does not stop the others ----------------------------------------------
def test_a_group_without_its_robot_key_is_skipped_and_the_others_are_sent(tmp_path, content_dir,
                                                                            db_copy):
    wecom = FakeWeCom().start()
    try:
        settings = make_settings(tmp_path, content_dir, base_url=wecom.base_url)
        assert "WECOM_KEY_B_UNSET" in settings.group("b").problem
        assert not settings.group("a").problem and not settings.group("c").problem
        db_factory = make_db_factory(settings.database.path)
        pusher = Pusher(settings, db_factory, time.time, time.sleep)
        pusher.run_due(MONDAY_9 + timedelta(minutes=1))
        rows = {r["group_id"]: r for r in db_factory()["pushes"].rows_where("message_key = 'tip'")}
        assert rows["a"]["status"] == "sent" and rows["c"]["status"] == "sent"
        assert rows["b"]["status"] == "skipped" and "WECOM_KEY_B_UNSET" in rows["b"]["errmsg"]
        assert len(wecom.messages_for("key-a")) == 1 and len(wecom.received) == 1
    finally:
        wecom.stop()


def test_real_config_mistakes_in_a_group_stay_fatal_and_name_the_key(tmp_path, content_dir):
    from bot.errors import ConfigError
    with pytest.raises(ConfigError, match=r"^groups\[1\]\.colour: unknown key"):
        make_settings(tmp_path, content_dir, [GROUPS[0], {**GROUPS[1], "colour": "red"}])


def test_ask_works_with_a_group_missing_its_key(tmp_path, content_dir, db_copy):
    config = tmp_path / "config.toml"
    config.write_text(f'[content]\ndir = "{content_dir}"\n[database]\npath = "bot.db"\n'
                      '[[groups]]\nid = "b"\nschedule = ["mon 09:00"]\nchannel = "wecom_robot"\n'
                      'robot_key_env = "WECOM_KEY_B_UNSET"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "ask", "我刚给对方转了8000块"],
                                env={"WECOM_KEY_B_UNSET": ""})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["urgent"] is True


# -- /healthz --------------------------------------------------------------------------------
def test_healthz_reports_each_check_and_no_secrets(tmp_path, content_dir, db_copy):
    settings = make_settings(tmp_path, content_dir)
    app = create_app(settings)
    client = app.test_client()
    response = client.get("/healthz")           # no heartbeat yet, group b has no key
    assert response.status_code == 503
    body = response.get_json()
    assert body["failing"] == ["scheduler", "groups"]
    assert body["checks"]["database"]["ok"] and body["checks"]["content"]["ok"]
    assert body["checks"]["content"]["published_cases"] > 50
    assert body["checks"]["content"]["version"] >= 1
    assert body["checks"]["groups"]["problems"] == [
        {"group": "b", "problem": settings.group("b").problem}]
    text = response.get_data(as_text=True)
    for secret in (TEST_TOKEN, TEST_AES_KEY, SECRET_KEY, "key-a"):
        assert secret not in text

    record_heartbeat(app.extensions["db"](), time.time() - 30)
    healthy = create_app(make_settings(tmp_path, content_dir, groups=GROUPS[::2]))
    response = healthy.test_client().get("/healthz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["checks"]["scheduler"]["heartbeat_age_seconds"] == \
        pytest.approx(30, abs=5)

    record_heartbeat(app.extensions["db"](), time.time() - 600)   # scheduler stopped
    response = healthy.test_client().get("/healthz")
    assert response.status_code == 503 and response.get_json()["failing"] == ["scheduler"]


def test_healthz_says_database_when_it_cannot_read_it(tmp_path, content_dir):
    settings = make_settings(tmp_path, content_dir, groups=[])
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    report = health_report(settings, lambda: connect(broken))
    assert report["status"] == "fail" and report["failing"] == ["database"]


def test_pushes_page_shows_the_skipped_group_and_why(tmp_path, content_dir, db_copy):
    from test_admin import add_account, login

    app = create_app(make_settings(tmp_path, content_dir))
    add_account(app, "chief", "a-long-password-1", "admin")
    client = app.test_client()
    assert login(client, "chief", "a-long-password-1").status_code == 302
    page = client.get("/admin/pushes").get_data(as_text=True)
    assert "缺少群机器人 key" in page and "WECOM_KEY_B_UNSET" in page


# -- logging ---------------------------------------------------------------------------------
def test_nothing_personal_is_logged_at_info_while_answering(tmp_path, content_dir, db_copy,
                                                            caplog):
    app = create_app(make_settings(tmp_path, content_dir, groups=[]))
    sender = WeChatSender(app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
    openid, question = "oPrivateOpenId_4711", "我妈接到电话说我儿子出车祸了要转5万"
    caplog.set_level(logging.INFO)
    for mode in ("plain", "safe"):
        xml = text_xml(question, from_user=openid)
        response, reply = sender.post(xml, mode=mode)
        assert response.status_code == 200 and reply
        sender.post(xml, mode=mode)             # WeChat's redelivery is logged too
    event = text_xml("x", from_user=openid).replace("<MsgType><![CDATA[text]]>",
                                                    "<MsgType><![CDATA[event]]>")
    event = event.replace("<Content><![CDATA[x]]></Content>",
                          "<Event><![CDATA[subscribe]]></Event>").split("<MsgId>")[0] + "</xml>"
    for _ in range(2):                            # an event's redelivery key holds the OpenID
        assert sender.post(event)[0].status_code == 200
    logged = caplog.text
    assert "POST /wechat 200" in logged          # the capture works: the access lines are there
    assert openid not in logged and question not in logged and "出车祸" not in logged
    assert "signature" not in logged             # no query strings


def test_apscheduler_tick_lines_only_at_debug():
    try:
        configure_logging(LoggingSettings(level="INFO"))
        assert not any(logging.getLogger(n).isEnabledFor(logging.INFO) for n in TICK_LOGGERS)
        assert logging.getLogger("bot.pushing").isEnabledFor(logging.INFO)
        configure_logging(LoggingSettings(level="DEBUG"))
        assert all(logging.getLogger(n).isEnabledFor(logging.DEBUG) for n in TICK_LOGGERS)
    finally:
        configure_logging(LoggingSettings(level="INFO"))


def test_log_file_gets_the_lines(tmp_path):
    path = tmp_path / "logs" / "bot.log"
    try:
        configure_logging(LoggingSettings(level="INFO", file=str(path)))
        logging.getLogger("bot.test").info("hello file")
        logging.getLogger("apscheduler.executors.default").info("Running job tick")
    finally:
        configure_logging(LoggingSettings(level="INFO"))
    text = path.read_text(encoding="utf-8")
    assert "hello file" in text and "Running job" not in text


def _our_handler():
    return next(h for h in logging.getLogger().handlers if getattr(h, "_bot_handler", False))


def test_access_lines_are_written_together_and_in_order(tmp_path, monkeypatch):
    """Access lines are collected and written in one go by the flusher (not one write per
    request); any other line writes them first, so the file keeps the order; closing the
    handler writes what is left."""
    path = tmp_path / "bot.log"
    try:
        configure_logging(LoggingSettings(level="INFO", file=str(path)))
        handler = _our_handler()
        monkeypatch.setattr(handler, "batch_seconds", 3600)   # the flusher waits; we flush
        for status in (200, 403, 200):
            log_access("POST", "/wechat", status, 1.0, "203.0.113.9")
        assert path.read_text(encoding="utf-8") == ""          # collected, not written
        handler.flush_round()                                  # the flusher's round
        lines = path.read_text(encoding="utf-8").splitlines()
        assert [ln.split(" INFO ")[1] for ln in lines] == [
            f"bot.access: POST /wechat {s} 1 ms client 203.0.113.9" for s in (200, 403, 200)]
        log_access("GET", "/", 200, 2.0, None)
        logging.getLogger("bot.test").warning("after the request")
        log_access("GET", "/last", 404, 3.0, None)
    finally:
        configure_logging(LoggingSettings(level="INFO"))     # closes our file handler
    tail = [ln.split(" ", 3)[3] for ln in path.read_text(encoding="utf-8").splitlines()[3:]]
    assert tail == ["bot.access: GET / 200 2 ms client -", "bot.test: after the request",
                    "bot.access: GET /last 404 3 ms client -"]


def test_collected_access_lines_go_to_the_new_file_after_logrotate(tmp_path, monkeypatch):
    path = tmp_path / "bot.log"
    try:
        configure_logging(LoggingSettings(level="INFO", file=str(path)))
        monkeypatch.setattr(_our_handler(), "batch_seconds", 3600)
        log_access("GET", "/before", 200, 1.0, None)
        _our_handler().flush_round()
        path.rename(tmp_path / "bot.log.1")                   # what logrotate does
        log_access("GET", "/after", 200, 1.0, None)
        _our_handler().flush_round()
    finally:
        configure_logging(LoggingSettings(level="INFO"))
    assert "GET /before" in (tmp_path / "bot.log.1").read_text(encoding="utf-8")
    assert "GET /after" in path.read_text(encoding="utf-8")


def test_access_lines_reach_stderr_through_the_flusher(capfd):
    """Without a log file: stderr, written by the flusher thread within its interval."""
    try:
        root = logging.getLogger()
        others = [h for h in root.handlers if not getattr(h, "_bot_handler", False)]
        for h in others:                    # as in production: nobody else collects logs
            root.removeHandler(h)
        try:
            configure_logging(LoggingSettings(level="INFO"))
            handler = _our_handler()
            log_access("POST", "/wechat", 200, 1.0, "203.0.113.9")
            deadline = time.monotonic() + 10
            while handler._batch and time.monotonic() < deadline:
                threading.Event().wait(0.01)      # until the flusher thread has written
        finally:
            for h in others:
                root.addHandler(h)
    finally:
        configure_logging(LoggingSettings(level="INFO"))
    assert "bot.access: POST /wechat 200 1 ms client 203.0.113.9" in capfd.readouterr().err


# -- the client address behind one proxy -----------------------------------------------------
@pytest.mark.parametrize("hops, expected", [(0, "10.0.0.1"), (1, "203.0.113.9")])
def test_client_address_is_read_for_exactly_the_trusted_hops(tmp_path, content_dir, db_copy,
                                                              caplog, hops, expected):
    app = create_app(make_settings(tmp_path, content_dir, groups=[],
                                   server={"trusted_proxy_hops": hops}))
    caplog.set_level(logging.INFO, logger="bot.access")
    # A client forges one address; the proxy appends the address it really saw.
    app.test_client().get("/", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"},
                          environ_base={"REMOTE_ADDR": "10.0.0.1"})
    line = [r.getMessage() for r in caplog.records if r.name == "bot.access"][-1]
    assert line.startswith("GET / 200") and line.endswith(f"client {expected}")


# -- backups ---------------------------------------------------------------------------------
def _writer(path, stop: threading.Event, committed: list):
    """Commit a question and its delivery row together, as fast as it can, until stopped."""
    db = connect(path)
    i = 0
    while not stop.is_set():
        i += 1
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO questions (asked_at, channel, text, category) "
                   "VALUES (?, 'wechat', ?, 'none')", [f"2026-11-27T00:00:{i % 60:02d}+00:00",
                                                        f"load {i}"])
        db.execute("INSERT INTO wechat_deliveries (key, received_at, reply) VALUES (?, ?, '')",
                   [f"m:load{i}", time.time()])
        db.execute("COMMIT")
        committed.append(i)
    db.conn.close()


def test_backup_during_writes_holds_and_restores_every_row_committed_before_it(tmp_path,
                                                                               db_copy):
    stop, committed = threading.Event(), []
    thread = threading.Thread(target=_writer, args=(db_copy, stop, committed))
    thread.start()
    try:
        while len(committed) < 300:
            time.sleep(0.005)
        before = len(committed)
        plain_copy = tmp_path / "cp.db"
        shutil.copy(db_copy, plain_copy)   # what `cp` does: the WAL's commits are missing
        dest = backup(db_copy, tmp_path / "backups" / "b.db")
        after = len(committed)
    finally:
        stop.set()
        thread.join()
    copy = sqlite3.connect(dest)
    texts = {r[0] for r in copy.execute("SELECT text FROM questions WHERE text LIKE 'load %'")}
    keys = {r[0] for r in copy.execute("SELECT key FROM wechat_deliveries WHERE key LIKE 'm:load%'")}
    n = len(texts)
    assert before <= n <= after
    # A snapshot: exactly the first n commits, each with both of its rows.
    assert texts == {f"load {i}" for i in range(1, n + 1)}
    assert keys == {f"m:load{i}" for i in range(1, n + 1)}
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not (tmp_path / "backups" / "b.db-wal").exists()
    # ... and restored, the database has every one of them.
    restore(dest, tmp_path / "restored" / "bot.db")
    restored = sqlite3.connect(tmp_path / "restored" / "bot.db")
    assert {r[0] for r in restored.execute(
        "SELECT text FROM questions WHERE text LIKE 'load %'")} == texts
    naive = sqlite3.connect(f"file:{plain_copy}?immutable=1", uri=True)
    assert naive.execute("SELECT COUNT(*) FROM questions WHERE text LIKE 'load %'").fetchone()[0] \
        < before   # the reason for the backup command


def test_backup_command_into_a_directory_keeps_the_newest(tmp_path, content_dir, db_copy):
    config = tmp_path / "config.toml"
    config.write_text(f'[content]\ndir = "{content_dir}"\n[database]\npath = "bot.db"\n',
                      encoding="utf-8")
    target = tmp_path / "backups"
    target.mkdir()
    for day in range(1, 6):
        (target / f"bot-202611{day:02d}-031500.db").write_bytes(b"old")
    result = CliRunner().invoke(main, ["--config", str(config), "backup", str(target),
                                       "--keep", "3"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in target.iterdir())
    assert len(names) == 3 and names[:2] == ["bot-20261104-031500.db", "bot-20261105-031500.db"]
    assert check_backup(target / names[2])["cases"] > 50
    assert prune_backups(target, 1) == [target / names[0], target / names[1]]
    fresh = tmp_path / "not-yet" / "backups"      # --keep: DEST is a directory, made if missing
    result = CliRunner().invoke(main, ["--config", str(config), "backup", str(fresh), "--keep", "2"])
    assert result.exit_code == 0, result.output
    assert [p.name.startswith("bot-") for p in fresh.iterdir()] == [True]


# -- restore ---------------------------------------------------------------------------------
def test_restore_checks_keeps_a_safety_copy_and_moves_the_content_version(tmp_path, db_copy):
    saved = backup(db_copy, tmp_path / "saved.db")
    live = connect(db_copy)
    live.execute("INSERT INTO questions (asked_at, text, category) VALUES ('x', 'after', 'none')")
    version = live.execute("SELECT value FROM meta WHERE key = 'content_version'").fetchone()[0]
    live.conn.close()
    info = restore(saved, db_copy, now=datetime(2026, 11, 27, 3, 0))
    safety = tmp_path / "bot.before-restore-20261127-030000.db"
    assert info["safety_copy"] == str(safety)
    assert sqlite3.connect(safety).execute(
        "SELECT COUNT(*) FROM questions WHERE text = 'after'").fetchone()[0] == 1
    restored = sqlite3.connect(db_copy)
    assert restored.execute("SELECT COUNT(*) FROM questions WHERE text = 'after'").fetchone()[0] == 0
    assert int(restored.execute("SELECT value FROM meta WHERE key = 'content_version'")
               .fetchone()[0]) > int(version)


def _corrupt(path):
    data = bytearray(path.read_bytes())
    page = 4096
    for at in range(3 * page, min(len(data), 12 * page), 97):
        data[at] = 0xA5
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("spoil, message", [
    (_corrupt, "integrity check failed|not a readable SQLite database"),
    (lambda p: p.write_bytes(b"hello" * 1000), "not a readable SQLite database"),
    (lambda p: sqlite3.connect(p).execute("DROP TABLE admins"), "not a 反诈助手 database"),
    (lambda p: sqlite3.connect(p, isolation_level=None).execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('bot', 'm9999_from_the_future', 'x')"), "newer version"),
])
def test_restore_refuses_a_bad_file_and_changes_nothing(tmp_path, db_copy, spoil, message):
    bad = backup(db_copy, tmp_path / "bad.db")
    spoil(bad)
    before = db_copy.read_bytes()
    with pytest.raises(BackupError, match=message):
        restore(bad, db_copy)
    assert db_copy.read_bytes() == before
    assert not list(tmp_path.glob("*before-restore*"))


def test_restore_command_refuses_while_the_scheduler_runs(tmp_path, content_dir, db_copy):
    import fcntl
    config = tmp_path / "config.toml"
    config.write_text(f'[content]\ndir = "{content_dir}"\n[database]\npath = "bot.db"\n'
                      '[scheduler]\nlock_path = "scheduler.lock"\n', encoding="utf-8")
    saved = backup(db_copy, tmp_path / "saved.db")
    with open(tmp_path / "scheduler.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = CliRunner().invoke(main, ["--config", str(config), "restore", str(saved)])
        assert result.exit_code == 1 and "scheduler is running" in result.output
    result = CliRunner().invoke(main, ["--config", str(config), "restore", str(saved)])
    assert result.exit_code == 0, result.output
    assert "previous database was saved as" in result.output


# -- retention -------------------------------------------------------------------------------
def test_months_before_clamps_to_the_month_end():
    assert months_before(datetime(2026, 8, 31, 12, tzinfo=timezone.utc), 6) == \
        datetime(2026, 2, 28, 12, tzinfo=timezone.utc)
    assert months_before(datetime(2026, 3, 15, tzinfo=timezone.utc), 15).date().isoformat() == \
        "2024-12-15"


def test_purge_anonymises_old_questions_and_keeps_their_counts(tmp_path, content_dir, db_copy):
    db = connect(db_copy)
    now = datetime(2026, 11, 27, 3, 17, tzinfo=timezone.utc)
    for asked, text in [("2026-05-26T23:59:59+00:00", "旧的 13800001111"),
                        ("2026-05-27T03:17:01+00:00", "刚好没过期"),
                        ("2026-11-26T10:00:00+00:00", "新的")]:
        db.execute("INSERT INTO questions (asked_at, channel, user_hash, text, category, urgent) "
                   "VALUES (?, 'wechat', 'abc123', ?, 'loan', 0)", [asked, text])
    db.execute("INSERT INTO wechat_deliveries (key, received_at, reply) VALUES "
               "('m:old', ?, 'x'), ('m:new', ?, 'y')",
               [now.timestamp() - 2 * 86400, now.timestamp() - 60])
    assert purge(db, now, 6, dry_run=True) == {"cutoff": "2026-05-27T03:17:00+00:00",
                                              "questions": 1, "wechat_deliveries": 1}
    assert db.execute("SELECT COUNT(*) FROM questions WHERE text = ''").fetchone()[0] == 0
    assert purge(db, now, 6)["questions"] == 1
    rows = db.execute("SELECT text, user_hash, category FROM questions ORDER BY asked_at").fetchall()
    assert rows == [("", None, "loan"), ("刚好没过期", "abc123", "loan"), ("新的", "abc123", "loan")]
    assert [r[0] for r in db.execute("SELECT key FROM wechat_deliveries")] == ["m:new"]
    assert purge(db, now, 6) == {"cutoff": "2026-05-27T03:17:00+00:00", "questions": 0,
                                 "wechat_deliveries": 0}


def test_purge_command_dry_run_changes_nothing(tmp_path, content_dir, db_copy):
    db = connect(db_copy)
    db.execute("INSERT INTO questions (asked_at, text, category) "
               "VALUES ('2020-01-01T00:00:00+00:00', '很久以前', 'none')")
    config = tmp_path / "config.toml"
    config.write_text(f'[content]\ndir = "{content_dir}"\n[database]\npath = "bot.db"\n'
                      '[retention]\nquestion_months = 3\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "purge", "--dry-run"])
    assert result.exit_code == 0 and "would anonymise 1 question(s)" in result.output
    assert db.execute("SELECT COUNT(*) FROM questions WHERE text = '很久以前'").fetchone()[0] == 1
    result = CliRunner().invoke(main, ["--config", str(config), "purge"])
    assert "anonymised 1 question(s)" in result.output
    assert db.execute("SELECT COUNT(*) FROM questions WHERE text = '很久以前'").fetchone()[0] == 0


# -- the scheduler's heartbeat and daily retention job ---------------------------------------
def _scheduler_module():
    import importlib.util
    from bot.config import PROJECT_ROOT
    spec = importlib.util.spec_from_file_location("scheduler_script", PROJECT_ROOT / "scheduler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_scheduler_tick_records_the_heartbeat_healthz_reads(tmp_path, content_dir, db_copy):
    config = tmp_path / "config.toml"
    config.write_text(f'[content]\ndir = "{content_dir}"\n[database]\npath = "bot.db"\n'
                      '[scheduler]\nlock_path = "scheduler.lock"\n'
                      '[[groups]]\nid = "c"\nschedule = ["mon 09:00"]\n', encoding="utf-8")
    settings = make_settings(tmp_path, content_dir, groups=[group("c", "outbox")])
    assert health_report(settings, make_db_factory(db_copy))["failing"] == ["scheduler"]
    assert _scheduler_module().main(["--config", str(config), "--once",
                                     "--now", "2026-11-23T09:01"]) == 0
    report = health_report(settings, make_db_factory(db_copy))
    assert report["status"] == "ok", report
    assert report["checks"]["scheduler"]["heartbeat_age_seconds"] < 30


def test_the_scheduler_applies_retention(tmp_path, content_dir, db_copy):
    settings = make_settings(tmp_path, content_dir, groups=[],
                             retention={"question_months": 2})
    db = connect(db_copy)
    db.execute("INSERT INTO questions (asked_at, user_hash, text, category) "
               "VALUES ('2026-09-01T00:00:00+00:00', 'h', '旧问题', 'none')")
    result = _scheduler_module().apply_retention(settings, make_db_factory(db_copy),
                                                 datetime(2026, 11, 27, 3, 17, tzinfo=TZ))
    assert result["questions"] == 1
    assert db.execute("SELECT text, user_hash FROM questions WHERE asked_at LIKE '2026-09%'"
                      ).fetchone() == ("", None)
