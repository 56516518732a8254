"""Feedback (case page with a signed token, "没用" in WeChat), ratings and review flags, the
unanswered questions grouped by similarity, and the console pages of the residents' loop."""
from __future__ import annotations

import re
import shutil

import pytest
from openpyxl import load_workbook

from bot import create_app
from bot.loop.grouping import group_questions
from conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN, make_settings
from test_admin import ADMIN, ADMIN_PASSWORD, add_account, login
from wechat_client import WeChatSender, reply_content, text_xml

CASE = "official-96110-call"


@pytest.fixture(scope="module")
def loop_app(tmp_path_factory, content_dir):
    app = create_app(make_settings(tmp_path_factory.mktemp("loopfeedback"),
                                   loop={"flag_unhelpful": 2}))
    add_account(app, ADMIN, ADMIN_PASSWORD, "admin")
    return app


def say(app, content: str, user: str) -> str:
    sender = WeChatSender(app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
    return reply_content(sender.post(text_xml(content, from_user=user))[1])


def rows(app, sql: str, params=()):
    return app.extensions["db"]().execute(sql, params).fetchall()


def token_of(page: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', page).group(1)


def test_case_page_vote_needs_the_token_signed_for_that_case(loop_app):
    client = loop_app.test_client()
    page = client.get(f"/cases/{CASE}").get_data(as_text=True)
    assert "这篇对您有用吗？" in page
    token = token_of(page)
    bad = client.post(f"/cases/{CASE}/feedback", data={"vote": "useless", "token": "forged"})
    assert bad.status_code == 400 and "页面已过期" in bad.get_data(as_text=True)
    other = client.post("/cases/emergency-just-transferred/feedback",
                        data={"vote": "useless", "token": token})
    assert other.status_code == 400
    assert client.post(f"/cases/{CASE}/feedback", data={"vote": "maybe", "token": token}
                       ).status_code == 400
    for vote, reason in (("useless", "没说怎么核实"), ("useless", ""), ("useful", "")):
        response = client.post(f"/cases/{CASE}/feedback",
                               data={"vote": vote, "token": token, "reason": reason})
        assert response.status_code == 303
    assert "谢谢您的评价" in client.get(response.location).get_data(as_text=True)
    assert rows(loop_app, "SELECT useful, reason FROM feedback WHERE case_id = ? AND "
                "channel = 'web' ORDER BY id", [CASE]) == [(0, "没说怎么核实"), (0, ""), (1, "")]


def test_votes_from_one_address_are_limited(loop_app):
    from bot.web.ratelimit import RateLimiter
    loop_app.extensions["feedback_limiter"] = RateLimiter(10, clock=lambda: 30.0)
    client = loop_app.test_client()
    token = token_of(client.get(f"/cases/{CASE}").get_data(as_text=True))
    codes = [client.post(f"/cases/{CASE}/feedback", data={"vote": "useful", "token": token}
                         ).status_code for _ in range(11)]
    assert codes == [303] * 10 + [429]
    loop_app.extensions["feedback_limiter"] = RateLimiter(10)


def test_useless_typed_after_an_answer_counts_for_that_answer(loop_app):
    user = "oFeedbackUser"
    say(loop_app, "网上有个贷款平台说放款前要先交3000元保证金", user)
    (case_id,) = rows(loop_app, "SELECT case_id FROM questions ORDER BY id DESC LIMIT 1")[0]
    assert "已经记下这条回答没帮上忙" in say(loop_app, "没用", user)
    assert rows(loop_app, "SELECT case_id, useful FROM feedback WHERE channel = 'wechat'") == \
        [(case_id, 0)]
    assert "没找到您刚才问的问题" in say(loop_app, "没用", "oNeverAsked")


def test_console_flags_cases_with_many_useless(loop_app):
    from datetime import datetime, timezone
    from bot.loop.feedback import record
    for reason in ("步骤太多看不懂", ""):   # loop.flag_unhelpful = 2
        record(loop_app.extensions["db"](), "web", "emergency-just-transferred", False, reason,
               now=datetime.now(timezone.utc))
    admin = loop_app.test_client()
    login(admin, ADMIN, ADMIN_PASSWORD)
    page = admin.get("/admin/feedback").get_data(as_text=True)
    row = page[page.index(f"case/{CASE}"):][:600]
    assert "没说怎么核实" in row
    assert "需要复查" not in row    # 10 有用 from the limiter test outweigh the 2 没用
    flagged = page[page.index("case/emergency-just-transferred"):][:600]
    assert "需要复查" in flagged and "步骤太多看不懂" in flagged


def test_grouping_ranks_by_distinct_residents_then_newest():
    rows_ = [
        {"id": 1, "text": "快递说丢件了要理赔", "user_hash": "a", "asked_at": "2026-11-20T01:00"},
        {"id": 2, "text": "快递说丢件了要给我理赔", "user_hash": "b", "asked_at": "2026-11-20T02:00"},
        {"id": 3, "text": "快递丢件理赔是真的吗", "user_hash": "b", "asked_at": "2026-11-20T03:00"},
        {"id": 4, "text": "社保卡年审要交钱吗", "user_hash": "c", "asked_at": "2026-11-21T01:00"},
        {"id": 5, "text": "养老金认证网址", "user_hash": "d", "asked_at": "2026-11-19T01:00"},
    ]
    groups = group_questions(rows_)
    assert [g["lead"]["id"] for g in groups] == [3, 4, 5]
    assert [g["askers"] for g in groups] == [2, 1, 1]
    assert {m["id"] for m in groups[0]["members"]} == {1, 2, 3}


def test_question_groups_page_and_leads_pages(loop_app):
    for user in ("oG1", "oG2", "oG3"):
        say(loop_app, "隔壁老王的狗丢了怎么找", user)
    say(loop_app, "举报", "oLeadX")
    say(loop_app, "冒充客服", "oLeadX")
    say(loop_app, "电话17012340000", "oLeadX")
    say(loop_app, "昨天", "oLeadX")
    say(loop_app, "没有", "oLeadX")
    admin = loop_app.test_client()
    login(admin, ADMIN, ADMIN_PASSWORD)
    groups = admin.get("/admin/question-groups").get_data(as_text=True)
    assert "3 位居民" in groups and "隔壁老王的狗丢了怎么找" in groups
    leads = admin.get("/admin/leads").get_data(as_text=True)
    assert "17012340000" in leads and "冒充客服" in leads
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', leads).group(1)
    (lead_id,) = rows(loop_app, "SELECT id FROM leads ORDER BY id DESC LIMIT 1")[0]
    assert admin.post(f"/admin/leads/{lead_id}/status",
                      data={"status": "passed", "note": "已交派出所", "csrf_token": csrf}
                      ).status_code == 302
    assert admin.post(f"/admin/leads/{lead_id}/status",
                      data={"status": "bogus", "csrf_token": csrf}).status_code == 303
    export = admin.get("/admin/leads.xlsx")
    assert export.status_code == 200
    import io
    book = load_workbook(io.BytesIO(export.data))
    sheet = book["群众举报线索"]
    values = [c.value for c in sheet[2]]
    assert values[0] == lead_id and "17012340000" in values[3] and values[7] == "已移交公安"
    assert rows(loop_app, "SELECT action FROM audit_log WHERE action LIKE 'lead%' ORDER BY id") \
        == [("lead.status",), ("leads.export",)]
    # The watchlist page: add, check, remove.
    assert admin.post("/admin/watchlist", data={"kind": "link", "value": "http://www.Fake-X.cc/a",
                                                "verdict": "scam", "note": "假网站",
                                                "csrf_token": csrf}).status_code == 302
    assert "已被列为诈骗链接（假网站）" in say(loop_app, "fake-x.cc 能信吗", "oW")
    assert admin.post("/admin/watchlist", data={"kind": "link", "value": "", "verdict": "scam",
                                                "csrf_token": csrf}).status_code == 400
