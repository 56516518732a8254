"""Issue 8, webhook and API: each failure an adversarial review found, reproduced against the
real app (and, for slow clients, a real gunicorn), and what must happen instead. Admin console
attacks: test_security_admin.py."""
from __future__ import annotations

import http.client
import json
import logging
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from urllib.parse import urlencode

import pytest

from bot import create_app
from bot.config import PROJECT_ROOT
from bot.storage.db import connect, make_db_factory
from bot.storage.schema import migrate
from bot.wechat.deliveries import Deliveries
from conftest import seed_folder
from processes import stop_process
from test_webhook import (LOAN_FEE_MESSAGE, count, post_raw, reply_text, sender,  # noqa: F401
                          shared, shared_app, text)
from test_webhook import event as event_xml


# -- 8. any body WeChat could not have sent is a 4xx --------------------------------------------
def _declared(encoding: str, payload: bytes | None = None) -> bytes:
    xml = text("你好，我被骗了")
    return payload or f'<?xml version="1.0" encoding="{encoding}"?>{xml}'.encode("utf-8")


HOSTILE_XML = {
    "GBK declared, UTF-8 bytes": _declared("GBK"),
    "GBK declared, GBK bytes": f'<?xml version="1.0" encoding="GBK"?>{text("你好")}'.encode("gbk"),
    "GB2312 declared": _declared("GB2312"),
    "GB18030 declared": _declared("GB18030"),
    "Big5 declared": _declared("Big5"),
    "Shift_JIS declared": _declared("Shift_JIS"),
    "UTF-16 declared, UTF-8 bytes": _declared("UTF-16"),
    "UTF-32 declared": _declared("UTF-32"),
    "latin-1 declared": _declared("ISO-8859-1"),
    "unknown encoding": _declared("x-no-such-encoding"),
    "empty encoding": _declared(""),
    "encoding with spaces": _declared("utf 8"),
    "EBCDIC declared": _declared("cp500"),
    "deeply nested elements": (b"<xml><ToUserName>a</ToUserName>" + b"<a>" * 15000
                               + b"</a>" * 15000 + b"</xml>"),
    "deeply nested inside Content": text("x").replace(
        "<Content>", "<Content>" + "<b>" * 12000).replace("</Content>", "</b>" * 12000
                                                          + "</Content>").encode(),
    "character reference to a surrogate": text("x").replace("x", "&#xD800;").encode(),
}


@pytest.mark.parametrize("case", list(HOSTILE_XML))
def test_xml_wechat_could_not_have_sent_is_a_400(shared_app, shared, case):
    before = count(shared_app, "questions")
    r = post_raw(shared, HOSTILE_XML[case])
    assert 400 <= r.status_code < 500, (case, r.status_code, r.get_data(as_text=True)[:200])
    assert count(shared_app, "questions") == before


@pytest.mark.parametrize("encoding", ["UTF-8", "utf-8", "utf8"])
def test_xml_declaring_utf8_is_still_answered(shared, encoding):
    r = post_raw(shared, _declared(encoding, f'<?xml version="1.0" encoding="{encoding}"?>'
                                   f'{text(LOAN_FEE_MESSAGE)}'.encode()))
    assert r.status_code == 200 and "<xml>" in r.get_data(as_text=True)


# -- 9. /api/v1/ask: lone surrogates and deep nesting are a 400 ---------------------------------
@pytest.mark.parametrize("raw", [
    b'{"q": "\\ud800"}', b'{"q": "\\udfff\\ud800"}', b'{"q": "\xe9\x97\xae\\ud83d"}',
    b"[" * 50_000, b"{\"q\": " + b"[" * 30_000 + b"]" * 30_000 + b"}", b"{\"q\":" * 12_000,
    b'{"q": "' + b"\\ud800" * 400 + b'"}',
])
def test_ask_with_unencodable_or_deep_json_is_a_400(shared_app, raw):
    client = shared_app.test_client()
    before = count(shared_app, "questions")
    r = client.post("/api/v1/ask", data=raw, content_type="application/json")
    assert r.status_code == 400, (raw[:40], r.status_code)
    assert r.get_json()["error"]["status"] == 400
    assert count(shared_app, "questions") == before
    assert client.post("/api/v1/ask", json={"q": "网贷要先交保证金"}).status_code == 200


def test_ask_with_a_nul_or_emoji_is_answered(shared_app):
    client = shared_app.test_client()
    for q in ("网贷要先交保证金\x00", "网贷要先交保证金😀", "\U0001F600"):
        r = client.post("/api/v1/ask", data=json.dumps({"q": q}), content_type="application/json")
        assert r.status_code == 200, q


# -- 10. question logging is best effort: the answer always goes out ---------------------------
FAIL_QUESTION_INSERTS = ("CREATE TRIGGER fail_questions BEFORE INSERT ON questions "
                         "BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END")


def test_ask_answers_when_question_logging_fails(app, client, sender):
    app.extensions["db"]().execute(FAIL_QUESTION_INSERTS)
    r = client.post("/api/v1/ask", json={"q": LOAN_FEE_MESSAGE})
    assert r.status_code == 200 and r.get_json()["category"] == "fake_loan"
    assert "/cases/loan-" in reply_text(*sender.post(text(LOAN_FEE_MESSAGE)))   # as the webhook did
    assert count(app, "questions") == 0


def _wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_ask_answers_at_once_while_another_process_holds_the_write_lock(settings):
    app = create_app(settings.replace(wechat={"record_batch_ms": 20}))
    client = app.test_client()
    holder = sqlite3.connect(settings.database.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")          # another process is writing, for a long while
    try:
        started = time.monotonic()
        for _ in range(3):
            r = client.post("/api/v1/ask", json={"q": LOAN_FEE_MESSAGE})
            assert r.status_code == 200 and r.get_json()["category"] == "fake_loan"
        assert time.monotonic() - started < 2.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _wait_for(lambda: count(app, "questions") == 3)     # logged once the lock is free
    app.extensions["deliveries"].close()


# -- 11. the batched writer: chunks, backoff, a capped backlog, recovery ------------------------
def _question(i: int) -> dict:
    return {"asked_at": "2026-11-27T00:00:00+00:00", "channel": "wechat", "user_hash": "u",
            "text": f"问题{i}" * 20, "category": "none", "urgent": 0, "score": 0.0,
            "case_id": None}


class TracedDatabase:
    """The writer's connections, seen from outside: every statement it runs, and a page limit
    that makes SQLite answer SQLITE_FULL ('database or disk is full') like a full disk."""

    def __init__(self, path):
        migrate(connect(path))
        self.path, self.statements, self.max_pages = path, [], None
        self._factory = make_db_factory(path, 0)
        self.reachable = threading.Event()   # cleared: the writer waits for its connection
        self.reachable.set()

    def __call__(self):
        assert self.reachable.wait(30)
        db = self._factory()
        db.conn.set_trace_callback(self.statements.append)
        pages = self.max_pages or 1 << 30
        db.conn.execute(f"PRAGMA max_page_count={pages}")
        return db

    def fill_disk(self) -> None:
        """No page left: the limit is today's size, and filler rows take every free byte."""
        db = connect(self.path)
        self.max_pages = db.execute("PRAGMA page_count").fetchone()[0] + 2
        db.execute(f"PRAGMA max_page_count={self.max_pages}")
        db.execute("CREATE TABLE filler (x)")
        for size in (4000, 500, 50, 1):
            try:
                while True:
                    db.execute("INSERT INTO filler VALUES (?)", ["x" * size])
            except sqlite3.OperationalError as exc:
                assert "full" in str(exc)

    def count(self, statement: str) -> int:
        return sum(1 for s in list(self.statements) if s.startswith(statement))

    def rows(self, table: str) -> int:
        return connect(self.path)[table].count


def _errors(caplog):
    return [r for r in caplog.records if r.name == "bot.wechat.deliveries"
            and r.levelno >= logging.ERROR]


def test_writer_backs_off_and_logs_once_while_a_write_lock_is_held(tmp_path, caplog):
    db = TracedDatabase(tmp_path / "b.db")
    writer = Deliveries(db, flush_seconds=0.01, max_backoff=0.2)
    holder = sqlite3.connect(tmp_path / "b.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for i in range(50):
            writer.record(f"m:{i}", "<xml/>", _question(i))
        _wait_for(lambda: db.count("BEGIN IMMEDIATE") >= 1, seconds=20)
        time.sleep(1.0)                         # the lock is held for another second
        attempts = db.count("BEGIN IMMEDIATE")
        assert attempts <= 25, attempts          # backing off (it used to spin thousands)
        assert len(_errors(caplog)) == 1 and _errors(caplog)[0].exc_info is None
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _wait_for(lambda: db.rows("wechat_deliveries") == 50, seconds=20)
    assert db.rows("questions") == 50
    # logged by the writer after its last chunk, so possibly after the rows are counted
    _wait_for(lambda: any("written again" in r.getMessage() for r in caplog.records),
              seconds=20)
    writer.close()


def test_writer_caps_its_backlog_writes_in_chunks_and_recovers_after_a_full_disk(tmp_path,
                                                                                caplog):
    db = TracedDatabase(tmp_path / "b.db")
    db.fill_disk()
    writer = Deliveries(db, flush_seconds=0.01, chunk_rows=100, max_backlog=1000,
                        max_backoff=0.1)
    # Everything is queued before the writer's first try: a first chunk of a row or two still
    # fits in the free space of the empty tables' pages, and a loaded machine can let the
    # writer take one that early.
    db.reachable.clear()
    for i in range(3000):
        writer.record(f"m:{i}", "<xml/>", _question(i))
    writer.record_questions([_question(i) for i in range(10)])
    db.reachable.set()
    _wait_for(lambda: db.count("BEGIN IMMEDIATE") >= 2, seconds=20)   # tried, failed, again
    assert db.rows("wechat_deliveries") == 0
    assert writer.dropped == 2010                             # the oldest rows went first
    dropped_logs = [r for r in _errors(caplog) if "dropped" in r.getMessage()]
    assert dropped_logs and all(r.exc_info is None for r in _errors(caplog))
    db.max_pages = None                                       # space is back
    _wait_for(lambda: db.rows("wechat_deliveries") == 990, seconds=20)
    # The writer logs the recovery after its last chunk is in: on a loaded machine the rows
    # can be counted before that line is written.
    _wait_for(lambda: any("written again" in r.getMessage() for r in caplog.records),
              seconds=20)
    assert db.rows("questions") == 1000                        # 990 deliveries + 10 from the API
    assert connect(tmp_path / "b.db").execute(
        "SELECT MIN(key) FROM wechat_deliveries").fetchone()[0] >= "m:2010"
    assert db.count("COMMIT") >= 10                           # chunks of 100, not one of 1000
    recovered = [r for r in caplog.records if "written again" in r.getMessage()]
    assert len(recovered) == 1 and "2010 row(s) were dropped" in recovered[0].getMessage()
    writer.close()


# -- 12. plaintext mode: each signed (timestamp, nonce) carries one message only ----------------
def _post_with(client, query: dict, xml: str):
    return client.post("/wechat?" + urlencode(query), data=xml.encode(), content_type="text/xml")


def test_a_signed_url_cannot_carry_another_message(app, settings, sender):
    query = sender.query()
    first = _post_with(sender.client, query, text(LOAN_FEE_MESSAGE))
    assert "/cases/loan-" in reply_text(first, first.get_data(as_text=True))
    forged = [text("我刚给对方转了8000块 现在联系不上了"), text("你好"),
              event_xml("subscribe")]
    other_worker = create_app(settings).test_client()
    for client in (sender.client, other_worker):
        for xml in forged:
            r = _post_with(client, query, xml)
            assert r.status_code == 403, r.get_data(as_text=True)
            assert not r.get_data(as_text=True).startswith("<xml>")
    assert count(app, "questions") == 1
    assert count(app, "wechat_deliveries") == 1


def test_a_retry_with_the_same_signed_url_gets_its_reply(app, settings, sender):
    """Whether WeChat's redelivery reuses timestamp and nonce or not, it gets the first reply."""
    query, xml = sender.query(), text(LOAN_FEE_MESSAGE)
    replies = [_post_with(sender.client, query, xml).get_data(as_text=True)]
    replies.append(_post_with(create_app(settings).test_client(), query, xml)
                   .get_data(as_text=True))
    replies.append(sender.post(xml)[0].get_data(as_text=True))    # fresh timestamp and nonce
    assert replies[0].startswith("<xml>") and len(set(replies)) == 1
    assert count(app, "questions") == 1


# -- 13. slow clients do not take the server down ----------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path, content_dir):
    """`python -m bot serve` with its defaults (2 workers) on a free loopback port."""
    port = _free_port()
    seed_folder(tmp_path)   # the session's init-db'ed database and index (conftest)
    config = tmp_path / "config.toml"
    config.write_text(f'[server]\nhost = "127.0.0.1"\nport = {port}\n'
                      f'[database]\npath = "{tmp_path / "bot.db"}"\n'
                      f'[content]\ndir = "{content_dir}"\n[admin]\ncookie_secure = false\n',
                      encoding="utf-8")
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "serve"],
                            cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(port, "/api/v1/categories", timeout=2) == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        yield port
    finally:
        stop_process(proc, 15)
        log.close()


def _get(port: int, path: str, timeout: float) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_slow_header_clients_do_not_hold_the_server_hostage(served):
    """Each slow client holds one thread of one worker: 8 (twice what took the sync workers
    down) cannot exhaust a worker's 16 threads even if all land on it. More than that is for
    the buffering reverse proxy in front (deploy/)."""
    slow = []
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", served))
        s.sendall(b"GET /api/v1/categories HTTP/1.1\r\nHost: x\r\nX-Slow: ")   # and never ends
        slow.append(s)
    try:
        time.sleep(0.5)                   # they have reached the workers
        started = time.monotonic()
        for _ in range(10):
            assert _get(served, "/api/v1/categories", timeout=3) == 200
        assert time.monotonic() - started < 5
    finally:
        for s in slow:
            s.close()
