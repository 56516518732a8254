"""The campaign's model and services on a small fixed dataset: village CSV import (every bad
row named FILE:line, nothing half-imported), household visits (minimal data, 回头看, duplicate
submissions stored once), the paper 登记表 import, the figures, the monthly 通报's composite with
literal expected values, and the XLSX files with their print setup."""
from __future__ import annotations

import hashlib
import io
from datetime import date, datetime

import openpyxl
import pytest

from bot.campaign.figures import figures, month_period, shift_month, week_period
from bot.campaign.residents import bind_follower, village_scene
from bot.campaign.tongbao import (composite, monthly_tongbao, tongbao_workbook, trend_score,
                                  weekly_sheets, weekly_workbook)
from bot.campaign.villages import (ImportProblems, assign_grid, import_cases_csv,
                                   import_villages_csv, save_cases)
from bot.campaign.visits import (VisitForm, VisitProblems, import_visits_xlsx, last_visit,
                                 record_visit)
from bot.storage.db import connect
from bot.storage.schema import migrate
from conftest import make_settings

TODAY = date(2026, 11, 30)

VILLAGES_CSV = """村编号,村名称,镇街,网格编号,网格名称,户数,人口
a,甲村,城关镇,a1,甲村一网格,4,10
b,乙村,城关镇,b1,乙村一网格,2,5
c,丙村,城关镇,c1,丙村一网格,1,3
"""


@pytest.fixture
def db(tmp_path):
    database = connect(tmp_path / "c.db")
    migrate(database)
    return database


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, campaign={"unit": "城关镇综治中心"})


def visit(db, grid, address, day, status, sid=None, pledge=False, reason="", **extra):
    sid = sid or "s-" + hashlib.sha1(f"{grid}{address}{day}".encode()).hexdigest()[:16]
    form = VisitForm(submission_id=sid, grid_id=grid,
                     address=address, visit_date=day, app_status=status, app_reason=reason,
                     pledge=pledge, people_present="2", **extra)
    return record_visit(db, form, "网格员甲", TODAY)


@pytest.fixture
def dataset(db):
    """Three villages; visits in October and November 2026; police figures."""
    import_villages_csv(db, VILLAGES_CSV, "villages.csv", "test")
    visit(db, "a1", "1号", "2026-10-10", "warnings_on")
    visit(db, "a1", "1号", "2026-11-05", "warnings_on", pledge=True)
    visit(db, "a1", "2号", "2026-11-06", "registered")
    visit(db, "a1", "3号", "2026-11-07", "installed")
    visit(db, "b1", "东1", "2026-09-01", "registered")
    visit(db, "b1", "东1", "2026-11-10", "not_installed", reason="不会用")
    visit(db, "b1", "东2", "2026-11-11", "warnings_on", pledge=True)
    visit(db, "c1", "南1", "2026-11-02", "warnings_on")
    for village, month, cases, losses in [("a", "2026-11", 1, 1000), ("a", "2026-10", 2, 5000),
                                          ("a", "2025-11", 3, 8000), ("b", "2026-11", 0, 0),
                                          ("b", "2025-11", 1, 300)]:
        save_cases(db, "民警", village, month, cases, losses)
    return db


# -- villages CSV --------------------------------------------------------------------------------
def test_villages_csv_imports_villages_and_grids(db):
    counts = import_villages_csv(db, VILLAGES_CSV, "villages.csv", "test")
    assert counts == {"villages": 3, "grids": 3, "rows": 3}
    assert db.execute("SELECT name, town FROM villages WHERE id = 'a'").fetchone() == \
        ("甲村", "城关镇")
    # Again with a changed count: updated, nothing added, nothing deleted.
    counts = import_villages_csv(db, VILLAGES_CSV.replace(",4,10", ",5,10"), "v2.csv", "test")
    assert counts == {"villages": 0, "grids": 0, "rows": 3}
    assert db.execute("SELECT households FROM grids WHERE id = 'a1'").fetchone() == (5,)
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE target_kind = 'villages'"
                      ).fetchone() == (2,)


def test_every_bad_village_row_is_named_and_nothing_is_imported(db):
    bad = ("村编号,村名称,镇街,网格编号,网格名称,户数,人口\n"
           "a,甲村,城关镇,a1,一网格,4,10\n"
           "B村,乙村,城关镇,b1,一网格,2,5\n"          # line 3: bad village id
           "c,丙村,城关镇,c1,一网格,很多,5\n"          # line 4: households not a number
           "\n"
           "a,甲村,城关镇,a1,二网格,3,1\n"             # line 6: duplicate grid
           "d,丁村,城关镇,d1,,3,1\n"                  # line 7: no grid name
           "a,另一个名字,城关镇,a2,二网格,3,1\n")      # line 8: village renamed within file
    with pytest.raises(ImportProblems) as exc:
        import_villages_csv(db, bad, "town.csv", "test")
    lines = [p.split(": ")[0] for p in exc.value.problems]
    assert lines == ["town.csv:3", "town.csv:4", "town.csv:6", "town.csv:7", "town.csv:8"]
    assert "户数应当是整数" in exc.value.problems[1]
    assert db.execute("SELECT COUNT(*) FROM villages").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM grids").fetchone() == (0,)


def test_a_village_csv_without_the_needed_columns_is_refused_at_line_1(db):
    with pytest.raises(ImportProblems) as exc:
        import_villages_csv(db, "村编号,村名称\na,甲村\n", "x.csv", "test")
    assert exc.value.problems[0].startswith("x.csv:1: 表头缺少") and "网格编号" in \
        exc.value.problems[0]


def test_a_grid_cannot_move_to_another_village_by_import(db):
    import_villages_csv(db, VILLAGES_CSV, "v.csv", "test")
    with pytest.raises(ImportProblems) as exc:
        import_villages_csv(db, VILLAGES_CSV.replace("b,乙村,城关镇,b1", "b,乙村,城关镇,a1"),
                            "v2.csv", "test")
    assert any(p.startswith("v2.csv:3:") for p in exc.value.problems)


def test_cases_csv_errors_name_their_lines(db):
    import_villages_csv(db, VILLAGES_CSV, "v.csv", "test")
    text = ("村编号,月份,发案,损失\na,2026-11,1,1000\nzz,2026-11,1,1\na,2026-13,1,1\n"
            "b,2026-11,-1,0\na,2026-11,2,2\n")
    with pytest.raises(ImportProblems) as exc:
        import_cases_csv(db, text, "cases.csv", "民警")
    assert [p.split(": ")[0] for p in exc.value.problems] == \
        ["cases.csv:3", "cases.csv:4", "cases.csv:5", "cases.csv:6"]
    assert db.execute("SELECT COUNT(*) FROM village_cases").fetchone() == (0,)
    assert import_cases_csv(db, "村编号,月份,发案,损失\na,2026-11,1,1000.5\n", "ok.csv", "民警") == 1
    assert db.execute("SELECT cases, losses FROM village_cases").fetchone() == (1, 1000.5)


# -- visits ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("field,value,message", [
    ("notes", "户主身份证 110101199003077777", "身份证号"),
    ("notes", "电话13812345678", "完整手机号"),
    ("address", "3组 138 1234 5678", "完整手机号"),
    ("phone_masked", "13812345678", "隐去中间四位"),
    ("head_surname", "王大明", "只填姓"),
    ("visit_date", "2026-12-01", "不能晚于今天"),
])
def test_the_visit_form_refuses_personal_numbers_and_full_names(db, field, value, message):
    import_villages_csv(db, VILLAGES_CSV, "v.csv", "test")
    values = {"address": "1号", "visit_date": "2026-11-20", "notes": "", "head_surname": "王",
              "phone_masked": "138****5678", field: value}
    form = VisitForm(submission_id="s-000001", grid_id="a1", app_status="registered", **values)
    with pytest.raises(VisitProblems) as exc:
        record_visit(db, form, "w", TODAY)
    assert message in exc.value.problems[field]
    assert db.execute("SELECT COUNT(*) FROM households").fetchone() == (0,)


def test_a_duplicate_submission_is_stored_once(db):
    import_villages_csv(db, VILLAGES_CSV, "v.csv", "test")
    first, stored = visit(db, "a1", "1号", "2026-11-20", "registered", sid="same-id-123")
    again, stored_again = visit(db, "a1", "1号", "2026-11-20", "registered", sid="same-id-123")
    assert (stored, stored_again) == (True, False) and again["id"] == first["id"]
    assert db.execute("SELECT COUNT(*) FROM visits").fetchone() == (1,)


def test_a_second_visit_is_a_recheck_and_finds_an_uninstalled_app(db):
    import_villages_csv(db, VILLAGES_CSV, "v.csv", "test")
    visit(db, "a1", "1号", "2026-10-01", "warnings_on")
    row, _ = visit(db, "a1", "1号", "2026-11-01", "registered")
    assert (row["is_recheck"], row["recheck_lost"]) == (1, 1)      # warnings switched off
    row, _ = visit(db, "a1", "1号", "2026-11-02", "not_installed", reason="不会用")
    assert (row["is_recheck"], row["recheck_lost"]) == (1, 1)      # uninstalled
    row, _ = visit(db, "a1", "1号", "2026-11-03", "registered")
    assert (row["is_recheck"], row["recheck_lost"]) == (1, 0)      # installed again
    home = db.execute("SELECT id FROM households").fetchone()[0]
    assert last_visit(db, home)["app_status"] == "registered"


def test_uninstalling_after_installing_counts_as_lost(db):
    import_villages_csv(db, VILLAGES_CSV, "v.csv", "test")
    visit(db, "a1", "9号", "2026-10-01", "installed")
    row, _ = visit(db, "a1", "9号", "2026-11-01", "not_installed", reason="不愿安装")
    assert row["recheck_lost"] == 1


def _xlsx(rows) -> io.BytesIO:
    book = openpyxl.Workbook()
    for r in rows:
        book.active.append(r)
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out


HEADER = ["网格编号", "门牌号/地址", "户主姓氏", "联系电话", "走访日期", "在场人数", "重点人群",
          "发放资料", "反诈APP", "未安装原因", "承诺书", "备注"]


def test_the_paper_sheet_import_reports_each_bad_row(db):
    import_villages_csv(db, VILLAGES_CSV, "v.csv", "test")
    sheet = _xlsx([HEADER,
                   ["a1", "1号", "王", "138****1234", datetime(2026, 11, 3), 2, "老年人、学生",
                    "宣传折页", "已注册", "", "是", ""],
                   ["zz", "2号", "", "", "2026-11-03", 1, "", "", "已注册", "", "", ""],
                   ["a1", "3号", "", "13812345678", "2026-11-03", 1, "", "", "已注册", "", "", ""],
                   ["a1", "4号", "", "", "2026-11-03", 1, "外星人", "", "装了", "", "", ""]])
    with pytest.raises(ImportProblems) as exc:
        import_visits_xlsx(db, sheet, "登记表.xlsx", "w", TODAY)
    assert [p.split(": ")[0] for p in exc.value.problems] == \
        ["登记表.xlsx:3", "登记表.xlsx:4", "登记表.xlsx:5", "登记表.xlsx:5"]
    assert db.execute("SELECT COUNT(*) FROM visits").fetchone() == (0,)


def test_the_paper_sheet_imports_once_and_respects_a_workers_grids(db):
    import_villages_csv(db, VILLAGES_CSV, "v.csv", "test")
    rows = [HEADER, ["a1", "1号", "王", "138****1234", datetime(2026, 11, 3), 2, "老年人、学生",
                     "宣传折页", "已注册", "", "是", "送了挂历"],
            ["a1", "2号", "", "", "2026-11-04", 1, "", "", "未安装", "没有智能手机", "", ""]]
    assert import_visits_xlsx(db, _xlsx(rows), "p.xlsx", "w", TODAY) == \
        {"rows": 2, "stored": 2, "already": 0}
    assert import_visits_xlsx(db, _xlsx(rows), "p.xlsx", "w", TODAY) == \
        {"rows": 2, "stored": 0, "already": 2}
    v = db.execute("SELECT key_groups, materials, pledge, app_status FROM visits ORDER BY id"
                   ).fetchall()
    assert v == [("elderly,students", "leaflet", 1, "registered"),
                 ("", "", 0, "not_installed")]
    with pytest.raises(ImportProblems):
        import_visits_xlsx(db, _xlsx([HEADER, ["b1", "1号", "", "", "2026-11-03", 1, "", "",
                                               "已注册", "", "", ""]]), "q.xlsx", "w", TODAY,
                           allowed_grids=["a1"])


def test_assigning_a_grid_needs_a_grid_workers_account(db):
    import_villages_csv(db, VILLAGES_CSV, "v.csv", "test")
    db["admins"].insert({"name": "w", "password_hash": "x", "role": "grid", "disabled": 0})
    db["admins"].insert({"name": "e", "password_hash": "x", "role": "editor", "disabled": 0})
    assign_grid(db, "admin", "w", "a1")
    with pytest.raises(ValueError, match="不是网格员"):
        assign_grid(db, "admin", "e", "a1")
    with pytest.raises(ValueError, match="没有网格"):
        assign_grid(db, "admin", "w", "zz")


# -- figures and the 通报 -------------------------------------------------------------------------
def test_periods():
    assert month_period("2026-02") == month_period("2026-02")
    assert (month_period("2026-12").first, month_period("2026-12").last) == \
        (date(2026, 12, 1), date(2026, 12, 31))
    assert shift_month("2026-01", -1) == "2025-12" and shift_month("2026-11", -12) == "2025-11"
    assert (week_period("2026-W47").first, week_period("2026-W47").last) == \
        (date(2026, 11, 16), date(2026, 11, 22))
    with pytest.raises(ValueError):
        month_period("2026-13")


def test_figures_per_village_for_a_month(dataset, settings):
    user = "u" * 16
    bind_follower(dataset, user, "a")
    dataset.execute("INSERT INTO questions (asked_at, channel, user_hash, text, category, urgent, "
                    "score) VALUES ('2026-11-20T02:00:00+00:00', 'wechat', ?, 'q', 'x', 1, 1)",
                    [user])
    rows = {v["id"]: v for v in figures(dataset, settings, month_period("2026-11"))["villages"]}
    a, b = rows["a"], rows["b"]
    assert (a["visited"], a["covered"], a["coverage"], a["installed_rate"], a["app_rate"]) == \
        (3, 3, 0.75, 0.75, 0.5)
    assert (a["rechecked"], a["lost"], a["pledges"], a["recheck_rate"]) == (1, 0, 1, 0.3333)
    assert (a["questions"], a["urgent"]) == (1, 1)
    assert (b["visited"], b["coverage"], b["app_rate"], b["rechecked"], b["lost"]) == \
        (2, 1.0, 0.5, 1, 1)
    assert (b["questions"], b["recheck_rate"]) == (0, 1.0)


def test_the_composite_and_the_trend_score():
    assert trend_score(1, 2, 3, 1000, 5000, 8000) == 1.0
    assert trend_score(0, 0, 0, 0, 0, 0) == 1.0
    assert trend_score(2, 2, 1, 10, 10, 20) == 0.5    # equal, up, equal, down
    assert composite(0.75, 0.5, 0.3333, 1.0, 0.75) == 72.5
    assert composite(1.0, 0.9, 1.0, 0.0, 0.75) == 75.0   # APP rate above target is capped


def test_the_monthly_tongbao_ranks_villages_on_the_composite(dataset, settings):
    data = monthly_tongbao(dataset, settings, "2026-11")
    ranked = [(r["id"], r["score"], r["rank"]) for r in data["rows"]]
    assert ranked == [("b", 90.0, 1), ("c", 85.0, 2), ("a", 72.5, 3)]
    rows = {r["id"]: r for r in data["rows"]}
    assert (rows["a"]["double_drop"], rows["a"]["double_drop_mom"]) == (True, True)
    assert (rows["b"]["double_drop"], rows["b"]["double_drop_mom"]) == (True, False)
    assert (rows["a"]["below_target"], rows["b"]["below_target"], rows["c"]["below_target"]) \
        == (True, True, False)
    assert [r["id"] for r in data["rows"] if r["no_fraud"]] == ["c"]
    assert rows["a"]["app_rate_prev"] == 0.25
    assert (rows["a"]["cases"], rows["a"]["cases_prev"], rows["a"]["losses_last_year"]) == \
        (1, 2, 8000.0)


def test_the_tongbao_xlsx_is_ready_to_file(dataset, settings):
    book = tongbao_workbook(monthly_tongbao(dataset, settings, "2026-11"))
    out = io.BytesIO()
    book.save(out)
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue())).active
    assert sheet["A1"].value == "2026年11月反电诈工作排名通报"
    assert sheet["A2"].value == "单位：城关镇综治中心    统计期间：2026-11-01 至 2026-11-30"
    assert [c.value for c in sheet[3]][:6] == ["排名", "村/社区", "综合得分", "户数",
                                               "入户覆盖率", "APP注册率"]
    assert [sheet.cell(row=r, column=2).value for r in (4, 5, 6)] == ["乙村", "丙村", "甲村"]
    assert sheet.cell(row=6, column=3).value == 72.5
    assert sheet.cell(row=4, column=5).number_format == "0.0%"
    assert sheet.print_title_rows == "$3:$3"
    assert sheet.page_setup.orientation == "landscape"
    assert int(sheet.page_setup.paperSize) == 9     # A4
    assert sheet.page_setup.fitToWidth == 1 and sheet.sheet_properties.pageSetUpPr.fitToPage
    assert "综合得分 = 30×入户覆盖率" in sheet.cell(row=8, column=1).value


def test_the_weekly_sheets_of_a_village(dataset, settings):
    data = weekly_sheets(dataset, settings, "a", "2026-W45")    # 2026-11-02 .. 11-08
    book = weekly_workbook(data)
    out = io.BytesIO()
    book.save(out)
    book = openpyxl.load_workbook(io.BytesIO(out.getvalue()))
    visits, stats = book["入户宣传登记表"], book["宣传活动统计表"]
    assert visits["A1"].value == "甲村反电诈入户宣传登记表（2026-W45）"
    assert [visits.cell(row=r, column=3).value for r in (4, 5, 6)] == ["1号", "2号", "3号"]
    assert visits.cell(row=4, column=10).value == "已注册并开启预警"
    assert visits.cell(row=4, column=12).value == "已签" and visits.cell(row=4, column=13).value == "是"
    assert [c.value for c in stats[5]][:4] == ["合计", 4, 3, 3]
    assert stats.page_setup.orientation == "landscape" and stats.print_title_rows == "$3:$3"
    with pytest.raises(ValueError):
        weekly_sheets(dataset, settings, "nowhere", "2026-W45")


# -- residents --------------------------------------------------------------------------------------
def test_qr_scenes_name_villages():
    assert village_scene("qrscene_dongcun") == "dongcun"
    assert village_scene("dongcun") == "dongcun"
    assert village_scene("qrscene_123") == "123"
    assert village_scene("") == "" and village_scene("qrscene_Bad Id") == ""


def test_followers_bind_only_to_known_villages(dataset):
    assert bind_follower(dataset, "h1", "a") and not bind_follower(dataset, "h2", "zz")
    assert bind_follower(dataset, "h1", "b")                 # the latest code scanned wins
    assert dataset.execute("SELECT user_hash, village_id FROM village_followers").fetchall() == \
        [("h1", "b")]


def test_a_paper_visit_entered_late_takes_its_place_in_the_household_history(db):
    from bot.campaign.figures import app_status_as_of
    import_villages_csv(db, VILLAGES_CSV, "v.csv", "test")
    visit(db, "a1", "1号", "2026-11-20", "not_installed", reason="不会用")
    visit(db, "a1", "1号", "2026-11-01", "registered")          # the paper sheet of 11-01
    assert db.execute("SELECT visit_date, prev_visit_date, next_visit_date, is_recheck, "
                      "recheck_lost FROM visits ORDER BY visit_date").fetchall() == \
        [("2026-11-01", None, "2026-11-20", 0, 0), ("2026-11-20", "2026-11-01", None, 1, 1)]
    assert app_status_as_of(db, date(2026, 11, 10)) == {"a1": (1, 1, 1)}
    assert app_status_as_of(db, date(2026, 11, 30)) == {"a1": (1, 0, 0)}
    assert app_status_as_of(db, date(2026, 10, 31)) == {}


def test_groups_name_their_village(tmp_path):
    from bot.errors import ConfigError
    group = {"id": "dongcun", "name": "东村群", "schedule": ["mon 09:00"], "village": "dongcun"}
    assert make_settings(tmp_path, [group]).groups[0].village == "dongcun"
    with pytest.raises(ConfigError, match=r"groups\[0\] \(dongcun\)\.village"):
        make_settings(tmp_path, [{**group, "village": "东村"}])
    with pytest.raises(ConfigError, match="campaign.app_target"):
        make_settings(tmp_path, campaign={"app_target": 1.5})


def test_purging_old_visits_keeps_the_later_history(db):
    from bot.campaign.visits import purge_before
    import_villages_csv(db, VILLAGES_CSV, "v.csv", "test")
    visit(db, "a1", "1号", "2024-12-01", "registered")
    visit(db, "a1", "1号", "2025-03-01", "not_installed", reason="不会用")
    visit(db, "a1", "2号", "2024-11-01", "installed")
    assert purge_before(db, date(2025, 1, 1), "admin") == \
        {"before": "2025-01-01", "visits": 2, "households": 1}
    assert db.execute("SELECT address FROM households").fetchall() == [("1号",)]
    assert db.execute("SELECT visit_date, prev_visit_date, is_recheck, recheck_lost "
                      "FROM visits").fetchall() == [("2025-03-01", None, 1, 1)]
    assert db.execute("SELECT action, target_kind FROM audit_log WHERE action = 'purge'"
                      ).fetchall() == [("purge", "visits")]


def test_tips_count_for_a_village_only_when_they_reached_its_groups(tmp_path):
    """Robot sends count; a relay counts once the grid worker tapped, a customer-group send once
    WeCom confirmed it; an expired relay link or an unsent task counts nothing."""
    from datetime import date
    from zoneinfo import ZoneInfo

    from bot.campaign.figures import tips_by_village
    from bot.storage.db import connect
    from bot.storage.schema import migrate
    from conftest import make_settings

    groups = [{"id": "robot-g", "channel": "outbox", "village": "dongcun", "schedule": ["mon 09:00"]},
              {"id": "relay-g", "channel": "outbox", "village": "dongcun", "schedule": ["mon 09:00"]},
              {"id": "other-g", "channel": "outbox", "village": "xicun", "schedule": ["mon 09:00"]}]
    settings = make_settings(tmp_path, groups)
    db = connect(tmp_path / "t.db")
    migrate(db)
    rows = [("robot-g", "2026-11-16T09:00:00+08:00", "wecom_robot", None),
            ("relay-g", "2026-11-16T09:00:00+08:00", "relay", "relayed"),
            ("relay-g", "2026-11-19T09:00:00+08:00", "relay", "expired"),
            ("other-g", "2026-11-16T09:00:00+08:00", "wecom_customer_group", "not_sent"),
            ("other-g", "2026-11-19T09:00:00+08:00", "wecom_customer_group", "confirmed"),
            ("robot-g", "2026-12-07T09:00:00+08:00", "wecom_robot", None)]   # next month
    for i, (gid, slot, channel, state) in enumerate(rows):
        push_id = db["pushes"].insert({"group_id": gid, "slot": slot, "message_key": f"tip{i}",
                                       "channel": channel, "status": "sent", "attempts": 1}).last_pk
        if state:
            db["receipts"].insert({"push_id": push_id, "group_id": gid, "slot": slot,
                                   "channel": channel, "state": state})
    got = tips_by_village(db, settings, date(2026, 11, 1), date(2026, 11, 30),
                          ZoneInfo("Asia/Shanghai"))
    assert got == {"dongcun": 2, "xicun": 1}
