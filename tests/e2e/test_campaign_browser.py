"""The visit form in a real browser on a connection that drops: the grid worker submits while
offline, the page says the visit is kept on the phone, and once the connection is back the
form's background retry stores it exactly once and the page says 已保存. Without JavaScript the
same form posts normally and the server's page says 已保存."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest
from playwright.sync_api import expect

from bot.config import PROJECT_ROOT
from conftest import write_config

from .test_browser import CHROMIUM, browser, free_port, running_server  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="Debian chromium not installed (make test installs it)")

VILLAGES = "村编号,村名称,镇街,网格编号,网格名称,户数,人口\ndongcun,东村,城关镇,dong-1,东村一网格,3,9\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e-campaign")
    port = free_port()
    config = write_config(tmp, server={"host": "127.0.0.1", "port": port, "workers": 2,
                                       "public_url": f"http://127.0.0.1:{port}"},
                          admin={"cookie_secure": False})
    base = [sys.executable, "-m", "bot", "--config", str(config)]
    (tmp / "v.csv").write_text(VILLAGES, encoding="utf-8")
    for args in (["init-db"], ["villages", "import", str(tmp / "v.csv")],
                 ["create-admin", "worker1", "--role", "grid", "--password", "e2e-password-123"],
                 ["villages", "assign", "worker1", "dong-1"]):
        subprocess.run(base + args, check=True, cwd=PROJECT_ROOT, capture_output=True)
    with running_server(base, tmp, port) as url:
        yield url, tmp / "bot.db"


def visits(db_path) -> list:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT h.address, v.app_status FROM visits v JOIN households h "
                            "ON h.id = v.household_id ORDER BY v.id").fetchall()


def sign_in(context, url):
    page = context.new_page()
    page.goto(url + "/admin/login")
    page.fill("input[name=name]", "worker1")
    page.fill("input[name=password]", "e2e-password-123")
    page.click("button[type=submit]")
    page.wait_for_url(url + "/admin/grids")
    return page


def fill_visit(page, address):
    page.click("text=登记新的一户")
    page.fill("input[name=address]", address)
    page.check("input[name=app_status][value=warnings_on]")
    page.check("input[name=key_groups][value=elderly]")
    page.check("input[name=pledge]")


def test_a_visit_submitted_offline_is_stored_once_when_the_connection_returns(server, browser):
    url, db_path = server
    context = browser.new_context(viewport={"width": 390, "height": 844})   # a phone
    page = sign_in(context, url)
    page.click("text=东村一网格")
    fill_visit(page, "3组12号")
    context.set_offline(True)
    page.click("form.visit button[type=submit]")
    # Playwright's expect, not wait_for_function: the CSP forbids the eval the latter needs.
    expect(page.locator("#save-state")).to_contain_text("暂存")
    assert visits(db_path) == []
    context.set_offline(False)
    expect(page.locator("#save-state")).to_have_text("已保存", timeout=20000)
    assert visits(db_path) == [("3组12号", "warnings_on")]
    page.reload()
    time.sleep(0.5)   # nothing is pending any more: no second copy arrives
    assert visits(db_path) == [("3组12号", "warnings_on")]
    context.close()


def test_without_javascript_the_form_posts_and_says_saved(server, browser):
    url, db_path = server
    context = browser.new_context(java_script_enabled=False)
    page = sign_in(context, url)
    page.goto(url + "/admin/grids/dong-1")
    fill_visit(page, "5组1号")
    page.click("form.visit button[type=submit]")
    page.wait_for_selector("text=已保存")
    assert ("5组1号", "warnings_on") in visits(db_path)
    context.close()
