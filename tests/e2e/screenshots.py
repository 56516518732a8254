"""Screenshots for the README: the admin dashboard and the case editor, in headless Chromium.

    .venv/bin/python tests/e2e/screenshots.py     (or: make screenshots)

Starts the app on a temporary database seeded with a few weeks of questions and pushes (answers
from the real engine), signs in and saves PNGs into docs/screenshots/.
"""
from __future__ import annotations

import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bot.answering.context import question_row  # noqa: E402
from bot.answering.service import AnswerService  # noqa: E402
from bot.storage.db import connect  # noqa: E402
from bot.storage.library import PublishedContent, init_db  # noqa: E402
from bot.storage.questions import insert_questions  # noqa: E402
from processes import stop_process  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
QUESTIONS = [
    "有人打电话说我涉嫌洗钱，要转到安全账户", "网上兼职刷单先垫付三百", "快递丢了客服让我共享屏幕",
    "老师在家长群发收款码收资料费", "网贷放款前要交解冻费", "我刚给骗子转了五千块怎么办",
    "ETC认证失效的短信能点吗", "有人高价收银行卡", "今天天气怎么样", "派出所周六上班吗",
    "保健品讲座送鸡蛋", "网恋对象带我投资虚拟币", "中奖要先交个人所得税", "游戏里低价卖装备",
]


def seed(db_path: Path) -> None:
    db = connect(db_path)
    init_db(db, ROOT / "content")
    answers = AnswerService(PublishedContent(lambda: db, ROOT / "content"), ROOT / "content", "http://127.0.0.1", 2000)
    rng = random.Random(7)
    now = datetime.now(timezone.utc)
    rows = []
    for day in range(56):
        for _ in range(rng.randint(3, 12)):
            q = rng.choice(QUESTIONS)
            rows.append(question_row(q, answers.ask(q), "wechat", f"u{rng.randint(1, 40)}",
                                     now - timedelta(days=day, hours=rng.randint(0, 20))))
    insert_questions(db, rows)
    for week in range(8):
        slot = (now - timedelta(weeks=week)).replace(hour=1, minute=0, second=0, microsecond=0)
        for g in ("dongcun-elderly", "xiyuan-parents"):
            status = "failed" if rng.random() < 0.15 else "sent"
            db["pushes"].insert({"group_id": g, "slot": slot.isoformat(), "message_key": "tip",
                                 "item_kind": "tip", "item_id": "tip-x", "channel": "outbox",
                                 "status": status, "attempts": 1,
                                 "errcode": 45009 if status == "failed" else 0})


def main() -> int:
    chromium = shutil.which("chromium")
    if not chromium:
        print("needs Debian's chromium (make test installs it)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="shots-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp / "config.toml"
    config.write_text((ROOT / "config.toml").read_text("utf-8").replace(
        'path = "var/bot.db"', f'path = "{tmp / "bot.db"}"').replace(
        "port = 8000", f"port = {port}").replace(
        'lock_path = "var/scheduler.lock"', f'lock_path = "{tmp / "s.lock"}"').replace(
        'dir = "content"', f'dir = "{ROOT / "content"}"'), "utf-8")
    seed(tmp / "bot.db")
    base = [sys.executable, "-m", "bot", "--config", str(config)]
    subprocess.run(base + ["create-admin", "张警官", "--password", "screenshot-pass-1"],
                   check=True, cwd=ROOT, capture_output=True)
    server = subprocess.Popen(base + ["serve", "--workers", "1"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        from playwright.sync_api import expect, sync_playwright
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/admin/login")
            page.fill("input[name=name]", "张警官")
            page.fill("input[name=password]", "screenshot-pass-1")
            page.click("button[type=submit]")
            page.wait_for_url(url + "/admin/")
            OUT.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUT / "dashboard.png"), full_page=True)
            page.goto(url + "/admin/items/case/loan-upfront-fee")
            expect(page.locator("#preview-reply")).to_have_text(re.compile(r"\S{30}"))
            page.wait_for_timeout(500)
            page.screenshot(path=str(OUT / "case-editor.png"), full_page=False)
            browser.close()
    finally:
        stop_process(server, 20)
    print(f"wrote {OUT / 'dashboard.png'} and {OUT / 'case-editor.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
