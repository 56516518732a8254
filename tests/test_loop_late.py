"""Answers that come later: after an editor teaches the bot a question it could not answer,
the resident who asked within the window gets the answer once as a customer-service message
(through the fake official-account API); one outside it sees it at their next message."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot import create_app
from bot.storage.questions import hash_user
from conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN, make_settings, small_content_dir
from fake_oa_cs import FakeOfficialAccount
from wechat_client import WeChatSender, reply_content, text_xml

SECRET = "fake-secret-for-tests-0002"
QUESTION = "隔壁老王的狗丢了怎么找"
CASE = "official-96110-call"


def say(app, content: str, user: str) -> str:
    sender = WeChatSender(app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
    return reply_content(sender.post(text_xml(content, from_user=user))[1])


def test_a_question_answered_later_reaches_who_asked_once(tmp_path):
    api = FakeOfficialAccount(TEST_APP_ID, SECRET).start()
    try:
        # The small bank (every case, a few lines each): 加为例句 publishes and builds again.
        app = create_app(make_settings(tmp_path, small=True, wechat={"app_secret": SECRET,
                                                         "api_base_url": api.base_url},
                                       loop={"customer_service": True}))
        loop, db = app.extensions["loop"], app.extensions["db"]()
        from bot.admin.inbox import add_example   # the editor's "加为例句", as the console does
        now = datetime.now(timezone.utc)
        assert loop.deliver_late_answers(now) == {}          # first run: the baseline
        api.user_wrote("oLateA")
        say(app, QUESTION, "oLateA")
        say(app, QUESTION, "oLateB")
        rows = db.execute("SELECT id, category FROM questions ORDER BY id").fetchall()
        assert [r[1] for r in rows] == ["none", "none"]
        # B asked three days ago: outside the 48-hour window.
        old = (now - timedelta(days=3)).isoformat(timespec="seconds")
        db.execute("UPDATE questions SET asked_at = ? WHERE id = ?", [old, rows[1][0]])
        db.execute("UPDATE cs_windows SET wrote_at = ? WHERE user_hash = ?",
                   [old, hash_user("oLateB", TEST_APP_ID)])
        assert loop.deliver_late_answers(now) == {}          # nothing published since
        assert add_example(db, small_content_dir(), CASE, QUESTION, "editor", rows[0][0]) == []
        assert loop.deliver_late_answers(now) == {"sent": 1, "pending": 1}
        (message,) = [m["text"]["content"] for m in api.sent]
        assert message.startswith(f"您前面问的“{QUESTION}”，现在有答案了：")
        assert api.sent[0]["touser"] == "oLateA"
        assert loop.deliver_late_answers(now, force=True) == {}   # once
        reply = say(app, "你好", "oLateB")
        assert reply.startswith(f"您前面问的“{QUESTION}”，现在有答案了：https://")
        assert f"/cases/{CASE}" in reply.split("\n")[0]
        assert "现在有答案了" not in say(app, "你好", "oLateB")
        assert len(api.sent) == 1
    finally:
        api.stop()


def test_the_scheduler_tick_finds_late_answers_only_after_a_publish(tmp_path):
    """The scheduler's job (no Flask in its process): a baseline on its first run, nothing
    while content is unchanged, then the waiting question; with customer-service messages off
    it waits for the resident's next message."""
    import sys

    from bot.config import PROJECT_ROOT
    from bot.storage.db import make_db_factory
    sys.path.insert(0, str(PROJECT_ROOT))
    import scheduler

    settings = make_settings(tmp_path, small=True)
    app = create_app(settings)
    from bot.admin.inbox import add_example
    job = scheduler.late_answers_job(settings, make_db_factory(settings.database.path))
    now = datetime.now(timezone.utc)
    assert job(now) == {}
    say(app, QUESTION, "oTick")
    assert job(now) == {}
    db = app.extensions["db"]()
    (qid,) = db.execute("SELECT id FROM questions").fetchone()
    assert add_example(db, small_content_dir(), CASE, QUESTION, "editor", qid) == []
    assert job(now) == {"pending": 1}
    assert job(now) == {}
    assert db.execute("SELECT status, case_id FROM late_answers").fetchall() == \
        [("pending", CASE)]
