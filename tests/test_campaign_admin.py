"""The campaign through the real app: roles and grid isolation (a grid worker cannot read or
edit another grid's household by URL), the phone visit form (duplicate submissions stored once,
已保存 only after storing, 回头看 shows the last status first), the console's imports and
downloads (audited), villages bound through QR codes, and the CLI commands."""
from __future__ import annotations

import io
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from click.testing import CliRunner

from bot import create_app
from bot.cli import main
from bot.storage.questions import hash_user
from conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN, make_settings, write_config
from fake_wechat_api import FakeWeChatApi
from test_admin import add_account, csrf_token, login
from wechat_client import WeChatSender, text_xml

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
PASSWORD = "a-long-password-1"
VILLAGES_CSV = """村编号,村名称,镇街,网格编号,网格名称,户数,人口
dongcun,东村,城关镇,dong-1,东村一网格,3,9
dongcun,东村,城关镇,dong-2,东村二网格,2,6
xicun,西村,城关镇,xi-1,西村一网格,2,5
"""


@pytest.fixture
def app(tmp_path):
    app = create_app(make_settings(tmp_path))   # a copy of the session's loaded database
    app.config["NOW"] = NOW
    from bot.campaign.villages import assign_grid, import_villages_csv
    database = app.extensions["db"]()
    import_villages_csv(database, VILLAGES_CSV, "v.csv", "test")
    for name, role in [("town", "admin"), ("worker", "grid"), ("other", "grid"),
                       ("officer", "police"), ("writer", "editor")]:
        add_account(app, name, PASSWORD, role)
    assign_grid(database, "test", "worker", "dong-1")
    assign_grid(database, "test", "other", "xi-1")
    return app


def signed_in(app, name):
    client = app.test_client()
    assert login(client, name, PASSWORD).status_code == 302
    return client


def visit_form(client, grid="dong-1", **fields):
    """The form's own fields (submission id, CSRF token) with the worker's answers."""
    page = client.get(f"/admin/grids/{grid}/visit").get_data(as_text=True)
    data = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
            "submission_id": re.search(r'name="submission_id" value="([^"]+)"', page).group(1),
            "address": "3组12号", "head_surname": "王", "phone_masked": "138****1234",
            "visit_date": "2026-11-28", "people_present": "2", "key_groups": ["elderly"],
            "materials": ["leaflet"], "app_status": "warnings_on", "pledge": "1", "notes": ""}
    data.update(fields)
    return data


def rows(app, sql, params=()):
    return app.extensions["db"]().execute(sql, params).fetchall()


# -- roles and grids ---------------------------------------------------------------------------------
def test_each_role_lands_on_its_own_pages(app):
    client = app.test_client()
    assert login(client, "worker", PASSWORD).location == "/admin/grids"
    client = app.test_client()
    assert login(client, "officer", PASSWORD).location == "/admin/campaign/cases"
    worker, officer = signed_in(app, "worker"), signed_in(app, "officer")
    for url in ("/admin/", "/admin/questions", "/admin/campaign", "/admin/campaign/tongbao",
                "/admin/campaign/cases", "/admin/items/case"):
        assert worker.get(url).status_code == 403, url
    for url in ("/admin/", "/admin/questions", "/admin/campaign", "/admin/grids/dong-1"):
        assert officer.get(url).status_code == 403, url
    assert officer.get("/admin/campaign/cases").status_code == 200
    writer = signed_in(app, "writer")
    assert writer.get("/admin/campaign").status_code == 200
    assert writer.get("/admin/grids/xi-1").status_code == 200      # town staff see every grid


def test_a_grid_worker_sees_only_their_own_grids(app):
    worker = signed_in(app, "worker")
    page = worker.get("/admin/grids").get_data(as_text=True)
    assert "东村一网格" in page and "东村二网格" not in page and "西村" not in page
    assert worker.get("/admin/grids/dong-1").status_code == 200
    assert worker.get("/admin/grids/dong-2").status_code == 404
    assert worker.get("/admin/grids/xi-1/visit").status_code == 404


def test_a_grid_worker_cannot_read_or_edit_another_grids_household_by_url(app):
    other = signed_in(app, "other")
    r = other.post("/admin/grids/xi-1/visit", data=visit_form(other, "xi-1", address="西1号"))
    assert r.status_code == 303
    home = rows(app, "SELECT id FROM households WHERE grid_id = 'xi-1'")[0][0]
    saved = r.location
    worker = signed_in(app, "worker")
    assert worker.get(f"/admin/households/{home}").status_code == 404
    assert worker.get(saved).status_code == 404
    assert "西1号" not in worker.get("/admin/grids/dong-1").get_data(as_text=True)
    # Posting into the other grid, even with a valid token and the other grid's address:
    form = visit_form(worker, address="西1号")
    assert worker.post("/admin/grids/xi-1/visit", data=form).status_code == 404
    assert worker.post("/admin/grids/xi-1/import", data={"csrf_token": form["csrf_token"]}
                       ).status_code == 404
    assert rows(app, "SELECT COUNT(*) FROM visits") == [(1,)]


# -- the visit form ----------------------------------------------------------------------------------
def test_a_visit_is_saved_once_however_often_it_is_submitted(app):
    worker = signed_in(app, "worker")
    form = visit_form(worker)
    first = worker.post("/admin/grids/dong-1/visit", data=form)
    again = worker.post("/admin/grids/dong-1/visit", data=form)     # the connection dropped
    background = worker.post("/admin/grids/dong-1/visit", data=form,
                             headers={"Accept": "application/json"})
    assert first.status_code == again.status_code == 303 and first.location == again.location
    assert background.get_json()["saved"] is True
    assert rows(app, "SELECT COUNT(*) FROM visits") == [(1,)]
    assert rows(app, "SELECT address, head_surname, phone_masked, app_status, pledge, "
                     "key_groups FROM households JOIN visits ON household_id = households.id") \
        == [("3组12号", "王", "138****1234", "warnings_on", 1, "elderly")]
    page = worker.get(first.location).get_data(as_text=True)
    assert "已保存" in page and "3组12号" in page


def test_a_visit_with_an_id_number_is_refused_and_nothing_is_stored(app):
    worker = signed_in(app, "worker")
    r = worker.post("/admin/grids/dong-1/visit",
                    data=visit_form(worker, notes="身份证110101199003077777"))
    assert r.status_code == 400
    assert "不要填写身份证号" in r.get_data(as_text=True)
    assert "已保存" not in r.get_data(as_text=True)
    r = worker.post("/admin/grids/dong-1/visit", data=visit_form(worker, phone_masked="13812341234"),
                    headers={"Accept": "application/json"})
    assert r.status_code == 400 and "phone_masked" in r.get_json()["errors"]
    assert rows(app, "SELECT COUNT(*) FROM visits") == [(0,)]


def test_a_recheck_shows_the_last_status_first(app):
    worker = signed_in(app, "worker")
    worker.post("/admin/grids/dong-1/visit", data=visit_form(worker, visit_date="2026-11-02",
                                                             notes="老人会用了"))
    home = rows(app, "SELECT id FROM households")[0][0]
    page = worker.get(f"/admin/households/{home}").get_data(as_text=True)
    assert "回头看：3组12号" in page
    last = page.index('id="last-status"')
    assert last < page.index('id="visit-form"')
    assert "2026-11-02" in page[last:] and "已注册并开启预警" in page[last:page.index("<form", last)]
    form = visit_form(worker, app_status="registered")
    form.update(submission_id=re.search(r'name="submission_id" value="([^"]+)"', page).group(1))
    r = worker.post("/admin/grids/dong-1/visit", data=form)
    assert "回头看：发现卸载或关闭预警" in worker.get(r.location).get_data(as_text=True)
    assert rows(app, "SELECT is_recheck, recheck_lost FROM visits ORDER BY id") == \
        [(0, 0), (1, 1)]


def test_the_form_works_without_javascript_and_has_big_touch_targets(app):
    page = signed_in(app, "worker").get("/admin/grids/dong-1/visit").get_data(as_text=True)
    assert 'method="post"' in page and 'type="submit"' in page
    assert 'name="viewport"' in page and 'class="choice"' in page


# -- console: imports, pages and downloads ----------------------------------------------------------
def test_a_bad_villages_csv_uploaded_in_the_console_lists_its_lines(app):
    town = signed_in(app, "town")
    data = {"csrf_token": csrf_token(town, "/admin/campaign/villages"),
            "file": (io.BytesIO("村编号,村名称,镇街,网格编号,网格名称,户数,人口\nbei,北村,城关镇,"
                                "bei-1,一网格,x,1\n".encode()), "town.csv")}
    r = town.post("/admin/campaign/villages", data=data, content_type="multipart/form-data")
    assert r.status_code == 400 and "town.csv:2: 户数应当是整数" in r.get_data(as_text=True)
    assert rows(app, "SELECT COUNT(*) FROM villages WHERE id = 'bei'") == [(0,)]


def test_police_enter_cases_and_the_tongbao_page_and_download_are_audited(app):
    officer = signed_in(app, "officer")
    token = csrf_token(officer, "/admin/campaign/cases")
    r = officer.post("/admin/campaign/cases", data={"csrf_token": token, "village_id": "dongcun",
                                                    "month": "2026-11", "cases": "2",
                                                    "losses": "3500.5"})
    assert r.status_code == 302
    assert rows(app, "SELECT cases, losses, entered_by FROM village_cases") == \
        [(2, 3500.5, "officer")]
    town = signed_in(app, "town")
    page = town.get("/admin/campaign/tongbao?month=2026-11").get_data(as_text=True)
    assert "2026年11月反电诈工作排名通报" in page and "<svg" in page and "未达标" in page
    assert town.get("/admin/campaign/tongbao?month=2026-13").status_code == 400
    r = town.get("/admin/campaign/tongbao.xlsx?month=2026-11")
    sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
    assert sheet["A1"].value == "2026年11月反电诈工作排名通报"
    r = town.get("/admin/campaign/villages/dongcun/sheets.xlsx?week=2026-W48")
    assert openpyxl.load_workbook(io.BytesIO(r.data)).sheetnames == ["入户宣传登记表", "宣传活动统计表"]
    assert rows(app, "SELECT actor, target_kind, target_id FROM audit_log WHERE action = 'export' "
                     "ORDER BY id") == [("town", "tongbao", "2026-11"),
                                        ("town", "weekly_sheets", "dongcun:2026-W48")]


def test_the_dashboard_ranks_villages_with_bars_against_the_target(app):
    page = signed_in(app, "town").get("/admin/campaign").get_data(as_text=True)
    assert page.index("东村") < page.index("西村")        # equal rates: by id
    assert 'class="target" style="left:75.0%"' in page


# -- residents through QR codes ----------------------------------------------------------------------
def event_xml(user: str, event: str, key: str, created: int) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[{user}]]>"
            f"</FromUserName><CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]>"
            f"</MsgType><Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey>"
            "</xml>")


def test_followers_from_a_village_code_are_bound_and_their_questions_count(app):
    sender = WeChatSender(app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
    r, _ = sender.post(event_xml("oResident1", "subscribe", "qrscene_dongcun", 1764000000))
    assert r.status_code == 200
    sender.post(event_xml("oResident2", "SCAN", "xicun", 1764000001))
    sender.post(event_xml("oResident3", "subscribe", "qrscene_nowhere", 1764000002))
    assert rows(app, "SELECT user_hash, village_id FROM village_followers ORDER BY village_id") \
        == [(hash_user("oResident1", TEST_APP_ID), "dongcun"),
            (hash_user("oResident2", TEST_APP_ID), "xicun")]
    assert not rows(app, "SELECT 1 FROM village_followers WHERE user_hash LIKE 'o%'")
    sender.post(text_xml("刚才有人让我转账到安全账户，我已经转了5000元", from_user="oResident1"))
    from bot.campaign.figures import figures, month_period
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    data = figures(app.extensions["db"](), app.config["SETTINGS"],
                   month_period(f"{now.year}-{now.month:02d}"))
    village = next(v for v in data["villages"] if v["id"] == "dongcun")
    assert (village["questions"], village["urgent"]) == (1, 1)


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_villages_import_names_every_bad_row(tmp_path):
    config = write_config(tmp_path)
    bad = tmp_path / "villages.csv"
    bad.write_text("村编号,村名称,镇街,网格编号,网格名称,户数,人口\na,甲村,镇,a-1,一,3,1\n"
                   "a,甲村,镇,a-2,二,-3,1\nB,乙村,镇,b-1,一,1,1\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "villages", "import", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:3: 户数不能是负数" in result.output and f"{bad}:4: 村编号" in result.output
    good = tmp_path / "good.csv"
    good.write_text(VILLAGES_CSV, encoding="utf-8-sig")
    result = CliRunner().invoke(main, ["--config", str(config), "villages", "import", str(good)])
    assert result.exit_code == 0 and "新增 2 个村、3 个网格" in result.output
    result = CliRunner().invoke(main, ["--config", str(config), "tongbao", "--month", "2026-11",
                                       "--out", str(tmp_path / "tb.xlsx")])
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(tmp_path / "tb.xlsx").active
    assert [sheet.cell(row=r, column=2).value for r in (4, 5)] == ["东村", "西村"]
    result = CliRunner().invoke(main, ["--config", str(config), "villages", "sheets", "xicun",
                                       "--week", "2026-W48", "--out", str(tmp_path / "w.xlsx")])
    assert result.exit_code == 0 and (tmp_path / "w.xlsx").exists()


def test_cli_qrcode_gets_the_code_from_the_api_and_saves_a_png(tmp_path):
    fake = FakeWeChatApi(TEST_APP_ID, "secret-1").start()
    try:
        config = write_config(tmp_path, wechat={"app_secret": "secret-1",
                                                "api_base_url": fake.base_url})
        (tmp_path / "v.csv").write_text(VILLAGES_CSV, encoding="utf-8")
        runner = CliRunner()
        runner.invoke(main, ["--config", str(config), "villages", "import", str(tmp_path / "v.csv")])
        out = tmp_path / "posters" / "dongcun.png"
        result = runner.invoke(main, ["--config", str(config), "qrcode", "dongcun", "--out",
                                      str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert fake.qrcodes == ["dongcun"]
        result = runner.invoke(main, ["--config", str(config), "qrcode", "nowhere"])
        assert result.exit_code == 1 and "没有村" in result.output
        fake.verified = False     # an unverified account may not make QR codes
        result = runner.invoke(main, ["--config", str(config), "qrcode", "dongcun"])
        assert result.exit_code == 1 and "48001" in result.output
    finally:
        fake.stop()


def test_the_figures_page_and_a_villages_grids_for_a_week_or_a_month(app):
    worker = signed_in(app, "worker")
    worker.post("/admin/grids/dong-1/visit", data=visit_form(worker, visit_date="2026-11-18"))
    town = signed_in(app, "town")
    page = town.get("/admin/campaign?period=2026-W47").get_data(as_text=True)
    table = page[page.index('id="figures"'):]
    row = table[table.index("<td>东村</td>"):].split("</tr>")[0]
    assert re.findall(r"<td[^>]*>([^<]*)</td>", row)[:7] == \
        ["东村", "5", "1", "1", "20.0%", "20.0%", "20.0%"]
    assert "<td>西村</td><td>2</td><td>0</td>" in table
    assert town.get("/admin/campaign?period=2026-W48").status_code == 200
    assert town.get("/admin/campaign?period=2026-W99").status_code == 400
    page = town.get("/admin/campaign/villages/dongcun?period=2026-11").get_data(as_text=True)
    grid_row = page[page.index("东村一网格</a>"):].split("</tr>")[0]
    assert "worker" in grid_row and "33.3%" in grid_row


def test_a_group_naming_an_unknown_village_is_pointed_out(tmp_path):
    groups = [{"id": "dong", "name": "东村群", "schedule": ["mon 09:00"], "village": "dongcun"},
              {"id": "bei", "name": "北村群", "schedule": ["mon 09:00"], "village": "beicun"}]
    app = create_app(make_settings(tmp_path, groups))
    app.config["NOW"] = NOW
    from bot.campaign.villages import import_villages_csv
    import_villages_csv(app.extensions["db"](), VILLAGES_CSV, "v.csv", "test")
    add_account(app, "town", PASSWORD, "admin")
    page = signed_in(app, "town").get("/admin/campaign").get_data(as_text=True)
    assert "“北村群”写的村编号“beicun”不存在" in page and "“东村群”" not in page


def test_police_csv_uploads_report_lines_and_encodings(app):
    officer = signed_in(app, "officer")
    token = csrf_token(officer, "/admin/campaign/cases")

    def upload(body: bytes, name="cases.csv"):
        return officer.post("/admin/campaign/cases", content_type="multipart/form-data",
                            data={"csrf_token": token, "file": (io.BytesIO(body), name)})
    r = upload("村编号,月份,发案,损失\ndongcun,2026-11,1,100\nxicun,2026/11,1,1\n".encode())
    assert r.status_code == 400 and "cases.csv:3: 月份格式不对" in r.get_data(as_text=True)
    r = upload("村编号,月份,发案,损失\ndongcun,2026-11,1,100\n".encode("gbk"), "gbk.csv")
    assert r.status_code == 400 and "gbk.csv: 不是 UTF-8 编码" in r.get_data(as_text=True)
    assert rows(app, "SELECT COUNT(*) FROM village_cases") == [(0,)]
    r = upload("村编号,月份,发案,损失\ndongcun,2026-11,1,100\nxicun,2026-11,0,0\n".encode())
    assert r.status_code == 302
    assert rows(app, "SELECT village_id, cases, entered_by FROM village_cases ORDER BY 1") == \
        [("dongcun", 1, "officer"), ("xicun", 0, "officer")]


def test_cli_imports_cases_and_paper_sheets(tmp_path):
    config = write_config(tmp_path)
    runner = CliRunner()
    (tmp_path / "v.csv").write_text(VILLAGES_CSV, encoding="utf-8")
    runner.invoke(main, ["--config", str(config), "villages", "import", str(tmp_path / "v.csv")])
    cases = tmp_path / "cases.csv"
    cases.write_text("村编号,月份,发案,损失\ndongcun,2026-11,1,100\nnowhere,2026-11,1,1\n",
                     encoding="utf-8")
    result = runner.invoke(main, ["--config", str(config), "villages", "cases-import", str(cases)])
    assert result.exit_code == 1 and f"{cases}:3: 没有村'nowhere'" in result.output
    book = openpyxl.Workbook()
    book.active.append(["网格编号", "门牌号/地址", "走访日期", "反诈APP", "未安装原因"])
    book.active.append(["dong-1", "1号", "2026-11-03", "已注册", ""])
    book.active.append(["dong-1", "2号", "2026-11-03", "未安装", ""])
    book.save(tmp_path / "paper.xlsx")
    result = runner.invoke(main, ["--config", str(config), "villages", "visits-import",
                                  str(tmp_path / "paper.xlsx")])
    assert result.exit_code == 1 and "paper.xlsx:3: 未安装时请选择或填写原因" in result.output
    book.active["E3"] = "没有智能手机"
    book.save(tmp_path / "paper.xlsx")
    result = runner.invoke(main, ["--config", str(config), "villages", "visits-import",
                                  str(tmp_path / "paper.xlsx")])
    assert result.exit_code == 0 and "新存 2 条" in result.output
