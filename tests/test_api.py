"""Mini-program JSON API and the public pages, through the real app."""
from zoneinfo import ZoneInfo

import pytest

from bot import create_app


def test_ask_returns_the_contract(client, app):
    r = client.post("/api/v1/ask", json={"q": "网贷放款前要我先交保证金"})
    assert r.status_code == 200
    data = r.get_json()
    assert set(data) == {"category", "urgent", "urgent_kind", "title", "answer", "case_ids",
                         "score"}
    assert data["category"] == "fake_loan" and data["urgent"] is False
    assert data["urgent_kind"] is None
    taxonomy = app.extensions["answers"].taxonomy
    assert data["category"] in taxonomy
    rows = list(app.extensions["db"]()["questions"].rows)
    assert len(rows) == 1 and rows[0]["channel"] == "api" and rows[0]["category"] == "fake_loan"


@pytest.mark.parametrize("kwargs, status, needle", [
    ({"data": "not json", "content_type": "text/plain"}, 400, "JSON 对象"),
    ({"json": ["q"]}, 400, "JSON 对象"),
    ({"json": {"q": ""}}, 400, "非空"),
    ({"json": {"q": 5}}, 400, "非空"),
    ({"json": {"question": "x"}}, 400, "非空"),
    ({"json": {"q": "骗" * 501}}, 413, "最多 500 个字"),
    ({"data": b"{\"q\": \"\xff\"}", "content_type": "application/json"}, 400, "JSON 对象"),
])
def test_ask_rejects_bad_input_with_json_errors(client, app, kwargs, status, needle):
    r = client.post("/api/v1/ask", **kwargs)
    assert r.status_code == status
    assert needle in r.get_json()["error"]["message"]
    assert app.extensions["db"]()["questions"].count == 0


def test_method_and_route_errors_are_json(client):
    r = client.get("/api/v1/ask")
    assert r.status_code == 405 and r.get_json()["error"]["message"] == "不支持这种请求方式。"
    missing = client.get("/api/v1/nothing").get_json()["error"]
    assert missing == {"status": 404, "message": "没有找到这个页面或内容。"}
    assert client.get("/api/v1/cases/no-such-case").get_json()["error"]["message"] == \
        "没有已发布的案例“no-such-case”"


def test_error_pages_are_in_chinese(client):
    for path in ("/cases/no-such-case", "/no-such-page"):
        r = client.get(path)
        page = r.get_data(as_text=True)
        assert r.status_code == 404 and "没有找到这个页面或内容。" in page, path
        assert "Not Found" not in page and "requested URL" not in page


def test_rate_limit_per_client(settings):
    app = create_app(settings.replace(api={"rate_limit_per_minute": 3}))
    client = app.test_client()
    codes = [client.get("/api/v1/categories").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/api/v1/categories")
    assert int(r.headers["Retry-After"]) >= 1 and "请求太频繁" in r.get_json()["error"]["message"]
    other = client.get("/api/v1/categories", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 200


def test_categories_are_the_taxonomy(client, app):
    cats = client.get("/api/v1/categories").get_json()["categories"]
    ids = [c["id"] for c in cats]
    assert ids == [c for c in app.extensions["answers"].taxonomy if c != "none"]
    assert all(c["cases"] >= 3 for c in cats)


def test_cases_filter_search_and_pages(client):
    page1 = client.get("/api/v1/cases").get_json()
    assert page1["page"] == 1 and len(page1["items"]) == 20 and page1["pages"] > 1
    last = client.get(f"/api/v1/cases?page={page1['pages']}").get_json()
    assert last["items"] and page1["total"] == 20 * (page1["pages"] - 1) + len(last["items"])
    romance = client.get("/api/v1/cases?category=romance").get_json()
    assert romance["total"] >= 3 and {i["category"] for i in romance["items"]} == {"romance"}
    found = client.get("/api/v1/cases?q=杀猪盘").get_json()
    assert found["total"] >= 1
    assert client.get("/api/v1/cases?q=不存在的词语组合").get_json()["total"] == 0


@pytest.mark.parametrize("query, status", [
    ("category=aliens", 400), ("category=none", 400), ("page=0", 400), ("page=x", 400),
])
def test_cases_bad_parameters(client, query, status):
    r = client.get("/api/v1/cases?" + query)
    assert r.status_code == status and r.get_json()["error"]["message"]


def test_case_detail_and_missing_case(client):
    first = client.get("/api/v1/cases").get_json()["items"][0]
    detail = client.get(f"/api/v1/cases/{first['id']}").get_json()
    assert detail["id"] == first["id"] and "识别要点" in detail["sections"]
    assert detail["url"].endswith(f"/cases/{first['id']}")
    assert client.get("/api/v1/cases/no-such-case").status_code == 404


def test_ask_page_and_case_page(client):
    index = client.get("/")
    assert index.status_code == 200 and b"/api/v1/ask" in index.data
    with client.get("/static/ask.js") as js:
        assert js.status_code == 200
    first = client.get("/api/v1/cases").get_json()["items"][0]
    page = client.get(f"/cases/{first['id']}")
    assert page.status_code == 200 and "识别要点" in page.get_data(as_text=True)
    assert 'name="viewport"' in page.get_data(as_text=True)
    missing = client.get("/cases/nope")
    assert missing.status_code == 404 and b"<html" in missing.data


def test_case_page_escapes_html_in_article_text(app, client):
    db = app.extensions["db"]()
    row = next(db["cases"].rows)
    evil = row["source"].replace("## 套路\n", "## 套路\n<script>alert(1)</script>\n", 1)
    db["cases"].update(row["id"], {"source": evil})
    from bot.storage.library import bump_content_version
    bump_content_version(db)
    app.extensions["answers"].refresh(force=True)
    html = client.get(f"/cases/{row['id']}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


MINIPROGRAM_REFERER = "https://servicewechat.com/wx0123456789abcdef/3/page-frame.html"


def test_anonymous_api_calls_add_nothing_to_the_weekly_statistics(client, app, settings):
    """Only residents' questions count: 100 anonymous calls and the try-it page add nothing."""
    from collections import Counter
    from datetime import datetime

    from bot.reporting.weekly import summary_value, week_of, weekly_report

    for _ in range(100):
        assert client.post("/api/v1/ask", json={"q": "你好"}).status_code == 200
    client.post("/api/v1/ask", json={"q": "你好", "channel": "web"})
    client.post("/api/v1/ask", json={"q": "你好", "channel": "miniprogram"})   # no Referer
    client.post("/api/v1/ask", json={"q": "刷单返利靠谱吗", "channel": "miniprogram"},
                headers={"Referer": MINIPROGRAM_REFERER})
    db = app.extensions["db"]()
    rows = list(db["questions"].rows)
    assert Counter(r["channel"] for r in rows) == {"api": 101, "web": 1, "miniprogram": 1}
    resident = next(r for r in rows if r["channel"] == "miniprogram")
    week = week_of(datetime.fromisoformat(resident["asked_at"]).astimezone(
        ZoneInfo(settings.scheduler.timezone)))
    report = weekly_report(db, settings, week)
    assert summary_value(report, "群众提问") == 1
    categories = {r[0]: r[2] for r in report["sheets"]["提问类别"]}
    assert categories["order_brushing"] == 1 and categories["none"] == 0


@pytest.mark.parametrize("app_id, referer, channel", [
    ("", MINIPROGRAM_REFERER, "miniprogram"),
    ("wx0123456789abcdef", MINIPROGRAM_REFERER, "miniprogram"),
    ("wxffffffffffffffff", MINIPROGRAM_REFERER, "api"),      # another mini-program
    ("", "https://example.com/wx0123456789abcdef/", "api"),
])
def test_miniprogram_channel_needs_wechats_referer(settings, app_id, referer, channel):
    app = create_app(settings.replace(api={"miniprogram_app_id": app_id}))
    app.test_client().post("/api/v1/ask", json={"q": "你好", "channel": "miniprogram"},
                           headers={"Referer": referer})
    assert [r["channel"] for r in app.extensions["db"]()["questions"].rows] == [channel]
