"""End to end in a real browser: Playwright driving headless Chromium (Debian's package)
against the server started as `make run` starts it (gunicorn, two workers) on 127.0.0.1.

An admin logs in, adds a case, publishes it, asks the bot the case's question on the / page
and sees the new answer; then downloads this week's XLSX statistics and checks its numbers.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from openpyxl import load_workbook

from bot.config import PROJECT_ROOT
from conftest import write_config
from processes import stop_process

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="Debian chromium not installed (make test installs it)")

QUESTION = "有人在菜市场门口卖会说话的金蟾蜍，说摆在家里一个月能招来十万块"
CASE_ID = "e2e-golden-toad"


def wait_until_served(url: str, seconds: float = 60) -> None:
    """A case published a moment ago is served once the workers' background build is done
    (a page waits 10 s for it; a loaded machine can take longer to build)."""
    import urllib.error
    import urllib.request
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=15):
                return
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(base: list[str], tmp: Path, port: int):
    """`python -m bot serve` as `make run` starts it, once its port answers (at most 30 s);
    its output goes to tmp/server.log, shown when it does not start."""
    with open(tmp / "server.log", "w") as log:
        proc = subprocess.Popen(base + ["serve"], cwd=PROJECT_ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                pytest.fail("server did not start: " + (tmp / "server.log").read_text())
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process(proc, 40)   # gunicorn finishes requests in flight for up to 30 s


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    port = free_port()
    # The small bank (conftest.small_content_dir: every case, a few lines each): each publish
    # here builds the whole bank's index again, which these tests do not need to be large.
    config = write_config(tmp, [{"id": "e2e-village", "name": "测试村群", "area": "测试村",
                                 "audiences": ["elderly"], "schedule": ["mon 09:00"]}],
                          small=True, server={"host": "127.0.0.1", "port": port, "workers": 2,
                                  "public_url": f"http://127.0.0.1:{port}"},
                          admin={"cookie_secure": False})
    base = [sys.executable, "-m", "bot", "--config", str(config)]
    subprocess.run(base + ["init-db"], check=True, cwd=PROJECT_ROOT, capture_output=True)
    subprocess.run(base + ["create-admin", "police1", "--password", "e2e-password-123"],
                   check=True, cwd=PROJECT_ROOT, capture_output=True)
    with running_server(base, tmp, port) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


ASKED = []


def ask_on_the_page(page, url: str, question: str) -> str:
    ASKED.append(question)
    page.goto(url + "/")
    page.fill("#q", question)
    page.click("#ask button[type=submit]")
    page.wait_for_selector("#result:not([hidden])")
    # Not wait_for_function: it evaluates a string, which the pages' CSP (no eval) refuses.
    expect(page.locator("#title")).to_have_text(re.compile(r"\S"))
    return page.text_content("#title") + "\n" + page.text_content("#answer")


def test_admin_adds_and_publishes_a_case_and_the_bot_answers_with_it(server, browser):
    page = browser.new_page(accept_downloads=True)
    page.goto(server + "/admin/")
    assert "/admin/login" in page.url
    page.fill("input[name=name]", "police1")
    page.fill("input[name=password]", "e2e-password-123")
    page.click("button[type=submit]")
    page.wait_for_url(server + "/admin/")

    before = ask_on_the_page(page, server, QUESTION)
    assert "金蟾蜍" not in before

    page.goto(server + "/admin/items/case/new")
    # A field's error shows under it once typed in, and goes away when it is fixed.
    page.fill("input[name=id]", "Bad ID")
    page.wait_for_selector('.errors[data-field="id"]:has-text("只能用小写字母")')
    assert page.locator('.errors[data-field="title"]').count() == 0   # not touched yet
    page.fill("input[name=id]", CASE_ID)
    page.wait_for_selector('.errors[data-field="id"]', state="detached")
    page.select_option("select[name=category]", "elderly_care")
    page.fill("input[name=title]", "金蟾蜍招财？摆件卖高价的老套路")
    page.fill("textarea[name=summary]", "说摆件能招财、能治病，让老人花大钱买，都是骗人的。")
    page.fill("textarea[name=examples]", "\n".join([
        QUESTION, "卖金蟾蜍的说能招财要三千块", "集市上有人推销招财摆件说能转运"]))
    page.fill("input[name=keywords]", "金蟾蜍，招财摆件")
    page.fill("textarea[name=sources]", "社区民警走访时收集的情况")
    page.fill("textarea[name=套路]", "骗子在集市摆摊，说摆件开过光，能招财治病，一件卖几千元。")
    page.fill("textarea[name=识别要点]", "说东西能招财治病\n价格远高于实际")
    page.fill("textarea[name=怎么办]", "不买\n告诉子女\n拨打110反映")
    expect(page.locator("#preview-reply")).to_contain_text("金蟾蜍")
    page.click("#editor button[type=submit]")
    page.wait_for_url(f"{server}/admin/items/case/{CASE_ID}")
    assert "已保存为草稿" in page.content()
    page.click("form[action$='/status'] button:has-text('发布')")
    page.wait_for_selector("text=已发布")

    # Two workers: whichever answers must use the new case. Each worker catches up when a
    # request reaches it, answering from the index it has until the new one is loaded (the
    # bank's index builds in ~5 s on a quiet machine): wait until several answers in a row
    # have the case (both workers have loaded it; the bound is wide for a loaded machine).
    deadline = time.monotonic() + 60
    answer, in_a_row = "", 0
    while time.monotonic() < deadline and in_a_row < 6:
        answer = ask_on_the_page(page, server, QUESTION)
        in_a_row = in_a_row + 1 if "金蟾蜍" in answer else 0
        if not in_a_row:
            time.sleep(0.5)
    assert "金蟾蜍招财" in answer and f"/cases/{CASE_ID}" in answer
    for _ in range(4):   # and it stays so, whichever worker answers
        assert "金蟾蜍招财" in ask_on_the_page(page, server, QUESTION)

    # This week's statistics: the new case and the questions asked above.
    week = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%G-W%V")
    page.goto(f"{server}/admin/report?week={week}")
    with page.expect_download() as info:
        page.click("text=下载 XLSX")
    path = info.value.path().with_suffix(".xlsx")
    info.value.save_as(path)
    book = load_workbook(path)
    summary = {row[0]: row[1] for row in book["汇总"].iter_rows(min_row=2, values_only=True)}
    assert summary["周次"] == week
    assert int(summary["新增案例"]) == 1
    assert summary["统计时间"].endswith("日") and book.sheetnames[0] == "统计表"
    # Questions typed on the try-it page are staff testing the bot, not residents.
    assert int(summary["群众提问"]) == 0 and len(ASKED) >= 5
    page.goto(f"{server}/admin/questions")
    assert page.locator("text=试用页").count() >= 5
    page.close()


HOSTILE_CASE = "e2e-hostile-links"


def test_an_editors_script_link_does_nothing_in_an_admins_browser(server, browser):
    """Issue 8, items 1-2, as reviewed: an editor publishes a case whose Markdown links to
    javascript:; an admin opens it and clicks. No script runs (the link has no target), and no
    page of the console needs anything the Content-Security-Policy refuses."""
    violations = []

    def watch(page):
        page.on("console", lambda m: violations.append(m.text)
                if "Content Security Policy" in m.text or "Refused to" in m.text else None)
        return page

    admin = watch(browser.new_page())
    admin.goto(server + "/admin/login")
    admin.fill("input[name=name]", "police1")
    admin.fill("input[name=password]", "e2e-password-123")
    admin.click("button[type=submit]")
    admin.wait_for_url(server + "/admin/")
    admin.goto(server + "/admin/accounts")
    admin.fill("form.card input[name=name]", "editor1")
    admin.fill("form.card input[name=password]", "e2e-editor-pass-1")
    admin.select_option("form.card select[name=role]", "editor")
    admin.click("form.card button[type=submit]")
    expect(admin.locator("table")).to_contain_text("editor1")

    editor = watch(browser.new_context().new_page())
    editor.goto(server + "/admin/login")
    editor.fill("input[name=name]", "editor1")
    editor.fill("input[name=password]", "e2e-editor-pass-1")
    editor.click("button[type=submit]")
    editor.wait_for_url(server + "/admin/")
    editor.goto(server + "/admin/items/case/new")
    editor.fill("input[name=id]", HOSTILE_CASE)
    editor.select_option("select[name=category]", "elderly_care")
    editor.fill("input[name=title]", "保健品讲座送鸡蛋，最后卖高价药")
    editor.fill("textarea[name=summary]", "先送小礼品拉人听讲座，再把普通食品说成神药高价卖给老人。")
    editor.fill("textarea[name=examples]", "社区有人办讲座送鸡蛋\n听讲座的说保健品能治高血压\n"
                                           "讲座最后让交钱买药")
    editor.fill("input[name=keywords]", "保健品讲座，送鸡蛋")
    editor.fill("textarea[name=sources]", "社区民警走访时收集的情况")
    editor.fill("textarea[name=套路]", "骗子先送鸡蛋，再卖高价药。[点这里](javascript:fetch('/admin/"
                                     "accounts'))看详情，[官方说明][1]。\n\n"
                                     "[1]: javascript:alert(document.cookie)")
    editor.fill("textarea[name=识别要点]", "免费送东西拉人听讲座\n说普通食品能治病")
    editor.fill("textarea[name=怎么办]", "不去听\n告诉子女\n拨打110反映")
    expect(editor.locator("#preview-reply")).to_contain_text("保健品")   # admin.js runs
    editor.click("#editor button[type=submit]")
    editor.wait_for_url(f"{server}/admin/items/case/{HOSTILE_CASE}")
    editor.click("form[action$='/status'] button:has-text('发布')")
    editor.wait_for_selector("text=已发布")

    wait_until_served(f"{server}/cases/{HOSTILE_CASE}")
    admin.goto(f"{server}/cases/{HOSTILE_CASE}")
    for text in ("点这里", "官方说明"):
        link = admin.locator("a", has_text=text)
        expect(link).to_have_count(1)
        assert link.get_attribute("href") is None
        link.click()
    admin.goto(server + "/admin/accounts")
    expect(admin.locator("table tr")).to_have_count(3)          # header, police1, editor1
    for path in ("/admin/", "/admin/questions", "/admin/pushes", "/admin/report",
                 f"/admin/items/case/{HOSTILE_CASE}"):
        admin.goto(server + path)
    expect(admin.locator("#preview-reply")).to_contain_text("保健品")
    assert violations == []
    admin.close()
    editor.close()
