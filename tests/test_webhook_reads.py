"""What a resident's message costs the database: the reads on the webhook's path, counted with
SQLite's own trace callback on the connections the app uses."""
from __future__ import annotations

import itertools
import time

import pytest

from bot import create_app
from bot.storage.library import bump_content_version
from bot.storage.questions import hash_user
from conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN
from wechat_client import WeChatSender, reply_content, text_xml

_ids = itertools.count(int(time.time() * 1000) * 1000 + 500_000)
QUESTION = "网上贷款要先交保证金，靠谱吗"


def say(app, content: str, user: str = "oReads1", mode: str = "plain") -> str:
    sender = WeChatSender(app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
    response, reply = sender.post(text_xml(content, from_user=user, msg_id=next(_ids)), mode=mode)
    assert response.status_code == 200
    return reply_content(reply)


class Reads:
    """Every statement SQLite runs on the app's connections of this thread."""

    def __init__(self, app):
        self.statements: list[str] = []
        self.connections = [app.extensions["db"]().conn, app.extensions["deliveries"]._db().conn]
        for conn in self.connections:
            conn.set_trace_callback(self.statements.append)

    def selects(self) -> list[str]:
        return [s for s in self.statements if s.lstrip().upper().startswith("SELECT")]

    def close(self):
        for conn in self.connections:
            conn.set_trace_callback(None)


@pytest.fixture
def batched_app(settings):
    """As served: replies and questions written in batches by the writer thread."""
    app = create_app(settings.replace(wechat={"record_batch_ms": 20}))
    yield app
    app.extensions["deliveries"].close()


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_a_first_text_message_reads_twice(batched_app, mode):
    """One read: redelivery and signed-nonce check together; one: the residents' loop (举报
    conversation, answers waiting). The content version is read at most every 50 ms."""
    app = batched_app
    answers = app.extensions["answers"]
    say(app, "你好", mode=mode)
    answers.version_check_seconds = 3600       # the version was just read
    reads = Reads(app)
    try:
        for n in range(5):
            say(app, f"{QUESTION}{n}", mode=mode)
        assert len(reads.selects()) == 2 * 5, reads.selects()
        assert sum("wechat_deliveries" in s for s in reads.selects()) == 5
        reads.statements.clear()
        answers.version_check_seconds = 0       # every message reads it
        say(app, QUESTION + "吗", mode=mode)
        assert len(reads.selects()) == 3 and any("content_version" in s
                                                 for s in reads.selects())
    finally:
        reads.close()


def test_a_publish_is_noticed_at_the_next_check_and_not_before(app):
    answers = app.extensions["answers"]
    answers.version_check_seconds = 3600
    say(app, "你好")
    before = answers.content_version
    bump_content_version(app.extensions["db"]())
    say(app, QUESTION)
    assert answers._thread is None            # not checked yet: no build asked for
    answers.version_check_seconds = 0
    say(app, QUESTION)
    assert answers._thread is not None
    assert answers.wait_until_current(timeout=60) and answers.content_version == before + 1


@pytest.mark.parametrize("status,shown", [("pending", True), ("quota", True), ("failed", True),
                                          ("shown", False), ("sent", False)])
def test_an_answer_waiting_is_shown_by_its_status(app, status, shown):
    """The loop's one read decides whether to look for answers waiting: the statuses it looks
    for must be those late_answers.pending_notice shows."""
    db = app.extensions["db"]()
    user = f"oReadsLate{status}"
    who = hash_user(user, TEST_APP_ID)
    qid = db["questions"].insert({"asked_at": "2026-11-20T00:00:00+00:00", "channel": "wechat",
                                  "user_hash": who, "text": "隔壁老王的狗丢了怎么找",
                                  "category": "none"}).last_pk
    db["late_answers"].insert({"question_id": qid, "user_hash": who,
                               "case_id": "official-96110-call",
                               "found_at": "2026-11-21T00:00:00+00:00", "status": status})
    reply = say(app, "你好", user=user)
    assert ("现在有答案了" in reply) is shown, reply


def test_a_conversation_in_progress_is_still_found(app):
    user = "oReadsLead"
    assert "第1步" in say(app, "举报", user=user)
    assert say(app, "有人冒充客服让我转账", user=user).startswith("第2步")
    assert not say(app, "有人冒充客服让我转账", user=user + "x").startswith("第2步")
