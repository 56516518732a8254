"""Admin statistics pages (questions, pushes, dashboard, weekly report) through the real app,
and the weekly report as a pure function, a download and a CLI command.

Rows are inserted with known timestamps in ISO week 2026-W47 (Mon 2026-11-16 00:00 to Mon
2026-11-23 00:00, Asia/Shanghai) and just outside it, so every boundary is checked.
"""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from click.testing import CliRunner

from bot import create_app
from bot.accounts import create_account
from bot.cli import main
from bot.config import load_settings
from bot.content.model import load_taxonomy
from bot.storage.db import connect
from bot.storage.library import init_db
from bot.content.editing import current, history, parse_source
from bot.reporting.weekly import SHEETS, week_bounds, weekly_report
from conftest import write_config

TZ = ZoneInfo("Asia/Shanghai")
WEEK = "2026-W47"
# The pages' "now": a Wednesday of W48, so "last week" and "next push" are fixed values.
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
EDITOR, PASSWORD = "editor1", "editor-password-1"
EGG = "广场舞队长让大家扫码领免费鸡蛋"      # the bot answers this with the menu (category none)
EGG_CASE = "elderly-health-products"
XSS = "<script>alert(1)</script>"

GROUPS = [
    {"id": "dongcun", "name": "东村老年人群", "area": "东村", "schedule": ["mon 09:00", "thu 19:30"]},
    {"id": "dongcun-youth", "name": "东村青年群", "area": "东村", "schedule": ["wed 20:00"]},
    {"id": "xicun", "name": "西村家长群", "area": "西村", "schedule": ["tue 10:00"]},
]

# (group, slot, message_key, status): W47 unless the comment says otherwise.
PUSHES = [
    ("dongcun", "2026-11-16T00:00:00+08:00", "manual:a", "sent"),    # first instant of W47
    ("dongcun", "2026-11-16T09:00:00+08:00", "tip", "sent"),
    ("dongcun", "2026-11-16T09:00:00+08:00", "alert:1", "sent"),
    ("dongcun", "2026-11-19T19:30:00+08:00", "tip", "failed"),
    ("dongcun", "2026-11-15T23:59:59+08:00", "manual:b", "sent"),    # W46
    ("dongcun", "2026-11-23T00:00:00+08:00", "manual:c", "sent"),    # W48
    ("dongcun-youth", "2026-11-18T20:00:00+08:00", "tip", "missed"),
    ("dongcun-youth", "2026-11-18T20:00:00+08:00", "alert:1", "skipped"),   # not counted
    ("xicun", "2026-11-17T10:00:00+08:00", "tip", "sent"),          # failed twice, then sent
    ("xicun", "2026-11-17T10:00:00+08:00", "alert:1", "unknown"),   # not counted
    ("xicun", "2026-11-10T10:00:00+08:00", "tip", "failed"),        # W46
    ("oldgroup", "2026-11-20T09:00:00+08:00", "tip", "sent"),       # no longer configured
]

# (asked_at in UTC, channel, text, category, urgent, score)
QUESTIONS = [
    ("2026-11-15T16:00:00+00:00", "wechat", "网上贷款要先交保证金吗", "fake_loan", 0, 0.6),  # Mon 00:00
    ("2026-11-18T02:00:00+00:00", "miniprogram", "贷款说我银行卡号填错了要解冻费", "fake_loan", 0, 0.5),
    ("2026-11-19T03:00:00+00:00", "wechat", "我刚转了五千给客服", "emergency", 1, 0.7),
    ("2026-11-20T04:00:00+00:00", "api", "我把验证码给别人了", "emergency", 1, 0.4),  # not a resident
    ("2026-11-20T05:00:00+00:00", "web", "试用页上问的", "fake_loan", 0, 0.4),       # not a resident
    ("2026-11-21T05:00:00+00:00", "wechat", "今天天气怎么样", "none", 0, 0.05),
    ("2026-11-22T15:59:59+00:00", "wechat", "刷单返利靠谱吗", "order_brushing", 0, 0.1),  # Sun 23:59
    ("2026-11-15T15:59:59+00:00", "wechat", "上周的问题", "fake_loan", 1, 0.6),      # W46
    ("2026-11-22T16:00:00+00:00", "wechat", "下周的问题", "fake_loan", 1, 0.6),      # W48
]

TIP_TITLE = "视频里是亲人，也要再核实"      # content/tips/tip-acq-ai-face.md
EXPECTED = {
    # outbox pushes: sent, but neither a robot, a customer group nor a grid worker took them
    "汇总": [["周次", WEEK], ["统计时间", "2026年11月16日至2026年11月22日"], ["推送成功", 5], ["推送失败", 1],
           ["错过", 1], ["机器人已发", 0], ["客户群确认送达", 0], ["网格员已转发", 0], ["群众提问", 5],
           ["紧急求助", 1], ["新增案例", 2]],
    "按群": [["dongcun", "东村老年人群", "东村", 3, 1, 0, 0, 0, 0],
           ["dongcun-youth", "东村青年群", "东村", 0, 0, 1, 0, 0, 0],
           ["xicun", "西村家长群", "西村", 1, 0, 0, 0, 0, 0],
           ["oldgroup", "oldgroup", "（未填写）", 1, 0, 0, 0, 0, 0]],
    "按村": [["东村", 3, 1, 1, 0, 0, 0], ["西村", 1, 0, 0, 0, 0, 0],
           ["（未填写）", 1, 0, 0, 0, 0, 0]],
    "推送明细": [["11-16 00:00", "东村老年人群", "东村", "手动推送", "t", "成功"],
             ["11-16 09:00", "东村老年人群", "东村", "每周提示", TIP_TITLE, "成功"],
             ["11-16 09:00", "东村老年人群", "东村", "本周预警", TIP_TITLE, "成功"],
             ["11-17 10:00", "西村家长群", "西村", "每周提示", TIP_TITLE, "成功"],
             ["11-18 20:00", "东村青年群", "东村", "每周提示", TIP_TITLE, "错过"],
             ["11-19 19:30", "东村老年人群", "东村", "每周提示", TIP_TITLE, "失败"],
             ["11-20 09:00", "oldgroup", "（未填写）", "每周提示", TIP_TITLE, "成功"]],
}
EXPECTED_CATEGORIES = {"fake_loan": ["fake_loan", "虚假网络贷款", 2, 0],
                       "emergency": ["emergency", "已被骗求助", 1, 1],
                       "none": ["none", "无关", 1, 0],
                       "order_brushing": ["order_brushing", "刷单返利", 1, 0],
                       "romance": ["romance", "网络婚恋交友", 0, 0]}


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture
def config_file(tmp_path):
    return write_config(tmp_path, GROUPS, admin={"cookie_secure": False},
                        report={"unit": "城关派出所"})


@pytest.fixture
def stats_settings(config_file):
    return load_settings(config_file, environ={})


@pytest.fixture
def stats_app(stats_settings):
    app = create_app(stats_settings)
    app.config["NOW"] = NOW
    create_account(app.extensions["db"](), EDITOR, PASSWORD, "editor")
    return app


@pytest.fixture
def db(stats_app):
    return stats_app.extensions["db"]()


@pytest.fixture
def plain_db(stats_settings):
    """The database without any Flask app: the report is plain functions over it."""
    database = connect(stats_settings.database.path)
    init_db(database, stats_settings.content.dir)
    return database


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def log_in(client, name=EDITOR, password=PASSWORD):
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    r = client.post("/admin/login", data={"name": name, "password": password,
                                          "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == "/admin/"
    return client


@pytest.fixture
def editor(stats_app):
    return log_in(stats_app.test_client())


def insert_week(db):
    """The W47 fixture rows; content/ cases count as created long ago."""
    db.execute("UPDATE cases SET created_at = '2026-01-05T00:00:00+00:00'")
    for group_id, slot, key, status in PUSHES:
        db["pushes"].insert({"group_id": group_id, "slot": slot, "message_key": key,
                             "status": status, "attempts": 3 if group_id == "xicun" else 1,
                             "channel": "outbox", "item_kind": "tip",
                             "item_id": "tip-acq-ai-face" if key != "manual:a" else "t"})
    for asked_at, channel, text, category, urgent, score in QUESTIONS:
        insert_question(db, text, category, urgent, score, asked_at, channel)
    source = current(db, "case", EGG_CASE)["source"]
    for case_id, created in (("new-case-a", "2026-11-15T16:00:00+00:00"),     # Mon 00:00: in
                             ("new-case-b", "2026-11-22T15:59:59+00:00"),     # Sun 23:59: in
                             ("new-case-c", "2026-11-22T16:00:00+00:00")):    # W48: out
        db["cases"].insert({"id": case_id, "category": "elderly_care", "title": case_id,
                            "source": source.replace(EGG_CASE, case_id), "status": "draft",
                            "origin": "admin", "created_at": created, "updated_at": created})


def insert_question(db, text, category="none", urgent=0, score=0.1, asked_at=None,
                    channel="wechat") -> int:
    asked_at = asked_at or NOW.astimezone(timezone.utc).isoformat(timespec="seconds")
    return db["questions"].insert({"asked_at": asked_at, "channel": channel, "text": text,
                                   "category": category, "urgent": urgent, "score": score,
                                   "user_hash": "u"}).last_pk


class Tables(HTMLParser):
    """Cell texts of every <table data-sheet="..."> on a page: {sheet: [[cell, ...], ...]}."""

    def __init__(self, html: str):
        super().__init__()
        self.tables, self._sheet, self._row, self._cell = {}, None, None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "data-sheet" in attrs:
            self._sheet = attrs["data-sheet"]
            self.tables[self._sheet] = []
        elif tag == "tr" and self._sheet:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._sheet].append(self._row)
            self._row = None
        elif tag == "table":
            self._sheet = None


def as_text(rows):
    return [[str(v) for v in row] for row in rows]


def check_report_rows(sheets: dict, convert=lambda rows: rows) -> None:
    """The W47 numbers, whatever the medium (``convert`` turns expected rows into its form)."""
    for name, rows in EXPECTED.items():
        assert sheets[name] == convert(rows), name
    categories = {row[0]: row for row in sheets["提问类别"]}
    for category, row in EXPECTED_CATEGORIES.items():
        assert categories[category] == convert([row])[0], category


# -- weeks and the report as pure functions ---------------------------------------------------
def test_week_bounds_are_monday_to_monday_in_shanghai():
    start, end = week_bounds(WEEK, TZ)
    assert start == datetime(2026, 11, 16, tzinfo=TZ)
    assert end == datetime(2026, 11, 23, tzinfo=TZ)
    assert week_bounds(" 2026-W53 ", TZ)[0] == datetime(2026, 12, 28, tzinfo=TZ)
    assert week_bounds("2027-W01", TZ)[0] == datetime(2027, 1, 4, tzinfo=TZ)


@pytest.mark.parametrize("week", ["", "2026-47", "2026-W7", "2026W47", "2026-W00", "2026-W54",
                                  "2025-W53", "W47", "2026-W47x", "<b>2026-W47</b>"])
def test_week_bounds_rejects_bad_weeks(week):
    with pytest.raises(ValueError):
        week_bounds(week, TZ)


def test_weekly_report_counts_by_slot_and_asked_at(stats_settings, plain_db):
    insert_week(plain_db)
    report = weekly_report(plain_db, stats_settings, WEEK)
    assert report["week"] == WEEK and list(report["sheets"]) == list(SHEETS)
    check_report_rows(report["sheets"])
    # every taxonomy category has a row, so weeks compare line by line
    taxonomy = load_taxonomy(stats_settings.content.dir)
    assert [r[0] for r in report["sheets"]["提问类别"]] == list(taxonomy)


def test_weekly_report_of_an_empty_week(stats_settings, plain_db):
    report = weekly_report(plain_db, stats_settings, "2020-W10")
    assert report["sheets"]["汇总"][2:] == [[k, 0] for k in
                                           ("推送成功", "推送失败", "错过", "机器人已发",
                                            "客户群确认送达", "网格员已转发", "群众提问",
                                            "紧急求助", "新增案例")]
    assert [r[0] for r in report["sheets"]["按群"]] == ["dongcun", "dongcun-youth", "xicun"]


# -- the report page and its downloads --------------------------------------------------------
def test_report_page_shows_the_week(editor, db):
    insert_week(db)
    r = editor.get(f"/admin/report?week={WEEK}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "下载 XLSX" in html and "下载 CSV" in html
    assert f"/admin/report.xlsx?week={WEEK}" in html and f"/admin/report.csv?week={WEEK}" in html
    tables = Tables(html).tables
    assert list(tables) == list(SHEETS)
    for name, headers in SHEETS.items():
        assert tables[name][0] == list(headers)
    check_report_rows({k: v[1:] for k, v in tables.items()}, as_text)


def test_report_page_defaults_to_last_complete_week(editor):
    html = editor.get("/admin/report").get_data(as_text=True)
    assert 'value="2026-W47"' in html


def test_report_xlsx_download(editor, db):
    insert_week(db)
    r = editor.get(f"/admin/report.xlsx?week={WEEK}")
    assert r.status_code == 200
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert "%E5%AE%A3%E4%BC%A0%E6%B4%BB%E5%8A%A8%E7%BB%9F%E8%AE%A1%E8%A1%A8-2026-W47.xlsx" \
        in disposition    # 宣传活动统计表-2026-W47.xlsx, RFC 5987-encoded
    check_xlsx(io.BytesIO(r.data), reporter=EDITOR)   # the signed-in account


def check_xlsx(file, reporter="") -> None:
    check_clerk_sheet(file, reporter)
    book = openpyxl.load_workbook(file, read_only=True)
    try:
        assert book.sheetnames == ["统计表", *SHEETS]
        sheets = {}
        for name, headers in SHEETS.items():
            rows = [list(row) for row in book[name].iter_rows(values_only=True)]
            assert tuple(rows[0]) == headers, name
            sheets[name] = rows[1:]
        check_report_rows(sheets)
    finally:
        book.close()


def check_clerk_sheet(file, reporter: str) -> None:
    """The first sheet is the form a clerk prints and files as is."""
    sheet = openpyxl.load_workbook(file)["统计表"]
    cells = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    assert cells[0][0] == "反诈骗宣传活动统计表" and "A1:G1" in sheet.merged_cells
    assert cells[1][0] == "填报单位：城关派出所"
    assert cells[1][3] == "统计时间：2026年11月16日至2026年11月22日（第 47 周）"
    assert cells[2][0] == f"填报人：{reporter}" and cells[2][3].startswith("填报日期：")
    assert not any("2026-W47" in str(v) for row in cells for v in row if v)
    header = cells[4]
    assert header == ["序号", "群名称", "村/片区", "推送成功（条）", "推送失败（条）", "错过（次）",
                      "推送内容（成功送达的提示和预警）"]
    body = {row[1]: row for row in cells[5:9]}
    assert body["东村老年人群"][:6] == [1, "东村老年人群", "东村", 3, 1, 0]
    assert body["东村老年人群"][6] == f"t；{TIP_TITLE}；【预警】{TIP_TITLE}"
    assert body["东村青年群"][3:] == [0, 0, 1, "（本周没有成功推送）"]
    assert body["oldgroup"][2:6] == ["（未填写）", 1, 0, 0]
    assert cells[9][:6] == ["合计", "4 个群", None, 5, 1, 1]
    text = " ".join(str(v) for row in cells[10:] for v in row if v)
    assert "共收到群众提问 5 条，其中紧急求助（已被骗或正在被骗）1 条" in text
    assert "新增防骗案例 2 个" in text and "虚假网络贷款 2" in text
    setup = sheet.page_setup
    assert setup.orientation == "landscape" and int(setup.paperSize) == 9   # A4
    assert setup.fitToWidth == 1 and setup.fitToHeight == 0
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.print_title_rows == "$5:$5"


def test_report_csv_download(editor, db):
    insert_week(db)
    r = editor.get(f"/admin/report.csv?week={WEEK}")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "2026-W47.csv" in r.headers["Content-Disposition"]
    assert r.data.startswith(b"\xef\xbb\xbf")     # BOM: Excel reads it as UTF-8
    check_csv(r.data.decode("utf-8-sig"))


def check_csv(text: str) -> None:
    sections: dict[str, list] = {}
    headers = {}
    for row in csv.reader(io.StringIO(text)):
        if row[0] == "section":
            headers[len(headers)] = tuple(row[1:])
            continue
        sections.setdefault(row[0], []).append(row[1:])
    assert list(headers.values()) == list(SHEETS.values())
    assert list(sections) == list(SHEETS)
    check_report_rows(sections, as_text)


def test_bad_week_is_400_with_a_message(editor):
    for path in ("/admin/report", "/admin/report.xlsx", "/admin/report.csv"):
        for week in ("2026-W99", "last week", "2025-W53", "<b>x</b>"):
            r = editor.get(path, query_string={"week": week})
            assert r.status_code == 400, (path, week)
            html = r.get_data(as_text=True)
            assert r.mimetype == "text/html"
            assert "2026-W47" in html, (path, week)    # the message shows what a week looks like
            assert "<b>x</b>" not in html


# -- the CLI -------------------------------------------------------------------------------------
def test_report_command_writes_xlsx_and_csv(config_file, plain_db, tmp_path):
    insert_week(plain_db)
    out = tmp_path / "out" / "report.xlsx"
    r = CliRunner().invoke(main, ["--config", str(config_file), "report", "--week", WEEK,
                                  "--out", str(out), "--reporter", "王警官"])
    assert r.exit_code == 0, r.output
    assert WEEK in r.output and "2026年11月16日至2026年11月22日" in r.output
    check_xlsx(out, reporter="王警官")
    out = tmp_path / "report.csv"
    r = CliRunner().invoke(main, ["--config", str(config_file), "report", "--week", WEEK,
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    check_csv(out.read_text(encoding="utf-8-sig"))
    r = CliRunner().invoke(main, ["--config", str(config_file), "report", "--week", WEEK])
    assert r.exit_code == 0, r.output
    check_csv(r.output)                 # no --out: the CSV on stdout


def test_report_command_refuses_bad_input(config_file, tmp_path):
    r = CliRunner().invoke(main, ["--config", str(config_file), "report", "--week", "2026-W60",
                                  "--out", str(tmp_path / "r.xlsx")])
    assert r.exit_code == 1 and "2026-W60" in r.output
    assert not (tmp_path / "r.xlsx").exists()
    r = CliRunner().invoke(main, ["--config", str(config_file), "report", "--week", WEEK,
                                  "--out", str(tmp_path / "r.pdf")])
    assert r.exit_code == 1 and ".xlsx or .csv" in r.output


# -- access ----------------------------------------------------------------------------------------
PAGES = ["/admin/", "/admin/questions", "/admin/pushes", "/admin/report",
         f"/admin/report.xlsx?week={WEEK}", f"/admin/report.csv?week={WEEK}"]


def test_pages_need_login(stats_app):
    client = stats_app.test_client()
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 302, path
        assert r.headers["Location"].startswith("/admin/login"), path


def test_add_example_needs_login(stats_app, db):
    qid = insert_question(db, EGG)
    client = stats_app.test_client()
    # A valid CSRF token, so the refusal can only come from the missing sign-in.
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    r = client.post(f"/admin/questions/{qid}/example",
                    data={"case_id": EGG_CASE, "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].startswith("/admin/login")
    assert len(history(db, "case", EGG_CASE)) == 0


def test_every_page_renders_for_an_editor(editor, db):
    insert_week(db)
    for path in ("/admin/", "/admin/questions", "/admin/questions?show=unanswered",
                 "/admin/questions?show=low", "/admin/questions?show=urgent&category=emergency",
                 "/admin/questions?q=%E8%B4%B7&page=3", "/admin/questions?show=nonsense&page=-1",
                 "/admin/pushes", "/admin/pushes?group=xicun&status=unknown",
                 "/admin/pushes?page=99", "/admin/report", f"/admin/report?week={WEEK}"):
        r = editor.get(path)
        assert r.status_code == 200, path
        assert "editor1" in r.get_data(as_text=True), path


def test_pages_render_on_an_empty_database(editor):
    for path in ("/admin/", "/admin/questions", "/admin/pushes", "/admin/report"):
        assert editor.get(path).status_code == 200, path


# -- questions ----------------------------------------------------------------------------------
def test_question_text_is_escaped_on_questions_page_and_dashboard(editor, db):
    insert_question(db, XSS)
    for path in ("/admin/questions", "/admin/"):
        html = editor.get(path).get_data(as_text=True)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
        assert XSS not in html, path


def test_question_filters(editor, db, stats_settings):
    insert_week(db)
    insert_question(db, "这个把握不大的问题", "fake_prize", 0, 0.05)

    def texts(query):
        html = editor.get("/admin/questions", query_string=query).get_data(as_text=True)
        return set(re.findall(r'<div class="text">(.*?)</div>', html))

    everything = texts({})
    assert len(everything) == len(QUESTIONS) + 1
    assert texts({"show": "unanswered"}) == {"今天天气怎么样"}
    assert stats_settings.admin.low_confidence_score == 0.2
    assert texts({"show": "low"}) == {"刷单返利靠谱吗", "这个把握不大的问题"}
    assert texts({"show": "urgent"}) == {"我刚转了五千给客服", "我把验证码给别人了", "上周的问题",
                                         "下周的问题"}
    assert texts({"category": "fake_loan", "q": "贷款"}) == {"网上贷款要先交保证金吗",
                                                          "贷款说我银行卡号填错了要解冻费"}
    assert texts({"q": "%"}) == set()          # searched as text, not as a LIKE pattern


def test_questions_newest_first_50_a_page(editor, db):
    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for i in range(51):
        insert_question(db, f"第{i}个问题", asked_at=(base + timedelta(minutes=i)).isoformat())
    html = editor.get("/admin/questions").get_data(as_text=True)
    shown = re.findall(r'<div class="text">(.*?)</div>', html)
    assert len(shown) == 50 and shown[0] == "第50个问题" and shown[-1] == "第1个问题"
    assert "第 1 / 2 页" in html
    assert re.findall(r'<div class="text">(.*?)</div>',
                      editor.get("/admin/questions?page=2").get_data(as_text=True)) == ["第0个问题"]


def test_question_row_shows_category_name_and_actions(editor, db):
    qid = insert_question(db, "贷款要交解冻费", "fake_loan", 0, 0.5)
    html = editor.get("/admin/questions").get_data(as_text=True)
    assert "虚假网络贷款" in html                       # Chinese name from taxonomy.tsv
    assert f'action="/admin/questions/{qid}/example"' in html
    assert f'href="/admin/items/case/new?from_question={qid}"' in html
    # the question's own category comes first in its case list
    row = html[html.index(f'id="q{qid}"'):]
    assert row.index('label="同类：虚假网络贷款"') < row.index('value="loan-upfront-fee"')
    assert editor.get(f"/admin/items/case/new?from_question={qid}").status_code == 200


def post_example(client, qid, case_id, next_path="/admin/questions?show=unanswered"):
    token = csrf_token(client.get("/admin/questions").get_data(as_text=True))
    return client.post(f"/admin/questions/{qid}/example",
                       data={"csrf_token": token, "case_id": case_id, "next": next_path})


def test_add_question_as_example_teaches_the_bot(stats_app, editor, db, content_dir):
    answers = stats_app.extensions["answers"]
    assert answers.ask(EGG)["category"] == "none"
    qid = insert_question(db, EGG)
    r = post_example(editor, qid, EGG_CASE)
    assert r.status_code == 302 and r.headers["Location"] == "/admin/questions?show=unanswered"
    page = editor.get(r.headers["Location"]).get_data(as_text=True)
    assert "已把提问" in page and EGG_CASE in page

    row = current(db, "case", EGG_CASE)
    article, problems = parse_source("case", row["source"], content_dir)
    assert problems == [] and article.examples[-1] == EGG and row["status"] == "published"
    versions = history(db, "case", EGG_CASE)
    assert [v["version"] for v in versions] == [2, 1]    # 1 = as loaded from content/
    assert versions[0]["editor"] == EDITOR
    assert versions[0]["note"] == f"加入群众提问 #{qid} 作例句"
    assert EGG in versions[0]["source"] and EGG not in versions[1]["source"]

    answers.refresh(force=True)
    answer = answers.ask(EGG)
    assert answer["category"] == "elderly_care"
    assert answer["case_ids"][0] == EGG_CASE


def test_add_example_flashes_problems_and_saves_nothing(stats_app, editor, db):
    phone = insert_question(db, "他用13812345678打给我说中奖了")     # unmasked number
    egg = insert_question(db, EGG)
    cases = [(phone, EGG_CASE, "138"), (egg, "no-such-case", "没有已发布的案例"),
             (egg, "new-draft", "没有已发布的案例")]
    source = current(db, "case", EGG_CASE)["source"].replace(EGG_CASE, "new-draft")
    db["cases"].insert({"id": "new-draft", "category": "elderly_care", "title": "t",
                        "source": source, "status": "draft", "origin": "admin"})
    for qid, case_id, message in cases:
        r = post_example(editor, qid, case_id)
        assert r.status_code == 302
        page = editor.get("/admin/questions").get_data(as_text=True)
        assert "没有加上" in page and message in page, case_id
    assert history(db, "case", EGG_CASE) == []
    assert "13812345678" not in current(db, "case", EGG_CASE)["source"]
    # the same question twice: the second time says so
    assert post_example(editor, egg, EGG_CASE).status_code == 302
    post_example(editor, egg, EGG_CASE)
    assert "已经是" in editor.get("/admin/questions").get_data(as_text=True)
    assert len(history(db, "case", EGG_CASE)) == 2
    assert post_example(editor, 999999, EGG_CASE).status_code == 404


def test_add_example_without_csrf_token_is_refused(editor, db):
    qid = insert_question(db, EGG)
    r = editor.post(f"/admin/questions/{qid}/example", data={"case_id": EGG_CASE})
    assert r.status_code == 400
    assert history(db, "case", EGG_CASE) == []


def test_add_example_never_redirects_off_the_questions_page(editor, db):
    qid = insert_question(db, EGG)
    r = post_example(editor, qid, EGG_CASE, next_path="https://evil.example/")
    assert r.headers["Location"] == "/admin/questions"


# -- pushes ---------------------------------------------------------------------------------------
def test_pushes_page_groups_health_log_and_outbox(editor, db, stats_settings):
    insert_week(db)
    db["group_health"].insert({"group_id": "xicun", "healthy": 0, "errcode": 93000,
                               "reason": "invalid webhook url", "key_fingerprint": "",
                               "updated_at": "2026-11-17T02:00:00+00:00"})
    db["outbox"].insert({"push_id": 1, "group_id": "dongcun", "msgtype": "text",
                         "payload": json.dumps({"title": "防骗提示", "content": f"第一行 {XSS}"},
                                               ensure_ascii=False),
                         "created_at": "2026-11-16T01:00:00+00:00"})
    html = editor.get("/admin/pushes").get_data(as_text=True)
    unhealthy = re.findall(r'<tr class="unhealthy">(.*?)</tr>', html, re.S)
    assert len(unhealthy) == 1 and "西村家长群" in unhealthy[0] and "93000" in unhealthy[0]
    assert "invalid webhook url" in unhealthy[0]
    # next pushes after Wednesday 25 Nov 10:00: Thu 19:30, Wed 20:00, Tue 10:00
    for next_push in ("2026-11-26 19:30", "2026-11-25 20:00", "2026-12-01 10:00"):
        assert next_push in html
    assert "可能已发出，不会自动重发" in html
    assert "防骗提示" in html and "第一行 &lt;script&gt;" in html and XSS not in html
    # newest slot first; filters
    log = html[html.index("<h2>推送记录"):html.index("<h2>发件箱")]
    slots = re.findall(r"<td>(\d{4}-\d\d-\d\d \d\d:\d\d)</td>", log)
    assert slots[0] == "2026-11-23 00:00" and slots == sorted(slots, reverse=True)
    filtered = editor.get("/admin/pushes?group=xicun&status=unknown").get_data(as_text=True)
    assert "共 1 条" in filtered


def test_pushes_page_paginates(editor, db):
    for i in range(60):
        db["pushes"].insert({"group_id": "dongcun", "slot": f"2026-10-01T09:{i:02d}:00+08:00",
                             "message_key": "tip", "status": "sent", "attempts": 1})
    html = editor.get("/admin/pushes").get_data(as_text=True)
    assert "第 1 / 2 页" in html and "2026-10-01 09:59" in html and "2026-10-01 09:00" not in html
    assert "2026-10-01 09:00" in editor.get("/admin/pushes?page=2").get_data(as_text=True)


# -- dashboard ------------------------------------------------------------------------------------
def test_dashboard_charts_counters_and_top_unanswered(editor, db):
    db["group_health"].insert({"group_id": "dongcun", "healthy": 0, "errcode": 93000,
                               "reason": "bad key", "key_fingerprint": "",
                               "updated_at": "2026-11-17T02:00:00+00:00"})
    for _ in range(3):
        insert_question(db, "今天天气怎么样")
    insert_question(db, "  今天天气怎么样 ")
    insert_question(db, "附近有没有好吃的")
    old = (NOW - timedelta(days=40)).astimezone(timezone.utc).isoformat(timespec="seconds")
    insert_question(db, "很久以前没答上的", asked_at=old)
    html = editor.get("/admin/").get_data(as_text=True)

    assert html.count("<svg") == 3
    assert "<script" not in html                         # pygal's JS is off
    assert "每周群众提问" in html and "每周紧急求助" in html and "每周群推送" in html
    assert "无关" in html and "本周" in html                # Chinese series and axis labels
    top = re.findall(r'<td class="qtext"><a [^>]*>(.*?)</a></td><td>(\d+)</td>', html)
    assert top == [("今天天气怎么样", "4"), ("附近有没有好吃的", "1")]
    published = db.execute("SELECT COUNT(*) FROM cases WHERE status = 'published'").fetchone()[0]
    counters = dict((label, int(n)) for n, label in
                    re.findall(r"<b>(\d+)</b>([^<]+)</a>", html))
    assert counters["已发布案例"] == published > 0
    assert counters["已发布提示"] > 0
    assert counters["群"] == 3 and counters["不健康的群"] == 1


def test_an_admin_marks_an_unhealthy_group_healthy_again(stats_app, db):
    """After the robot is re-added to its chat (same key), an admin lets pushes resume."""
    from bot.pushing.health import key_fingerprint
    group = stats_app.config["SETTINGS"].group("dongcun")
    db["group_health"].insert({"group_id": "dongcun", "healthy": 0, "reason": "invalid webhook url",
                               "errcode": 93000, "updated_at": "t",
                               "key_fingerprint": key_fingerprint(group.robot_key)})
    create_account(db, "police-admin", PASSWORD, "admin")
    editor_client = log_in(stats_app.test_client())
    page = editor_client.get("/admin/pushes").get_data(as_text=True)
    assert "不健康" in page and "/admin/pushes/dongcun/healthy" not in page   # editors: no button
    token = csrf_token(page)
    assert editor_client.post("/admin/pushes/dongcun/healthy",
                              data={"csrf_token": token}).status_code == 403
    admin = log_in(stats_app.test_client(), "police-admin")
    page = admin.get("/admin/pushes").get_data(as_text=True)
    assert admin.post("/admin/pushes/dongcun/healthy", data={}).status_code == 400   # no CSRF
    r = admin.post("/admin/pushes/dongcun/healthy", data={"csrf_token": csrf_token(page)})
    assert r.status_code == 302
    assert db["group_health"].get("dongcun")["healthy"] == 1
    audit = list(db["audit_log"].rows_where("action = 'mark_healthy'"))
    assert len(audit) == 1 and audit[0]["actor"] == "police-admin"
    assert admin.post("/admin/pushes/nope/healthy",
                      data={"csrf_token": csrf_token(page)}).status_code == 404
