"""A burst of screenshots must not delay text answers: 50 phone screenshots arrive at once
(real OCR, one worker thread), then text questions are asked while the pool works; their
latency is compared with the same questions asked before the burst.

Needs a CJK font to draw the picture (bench/ocr_bench.py).
``python bench/screenshot_burst_bench.py [--burst 50] [--seconds 30]``; run it on 2 cores
(``taskset -c 0,1``). The fake official-account API and CDN of the tests stand in for WeChat.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from ocr_bench import screenshot  # noqa: E402

QUESTIONS = ["网上有个贷款平台说放款前要先交3000元保证金", "有人打电话说我医保卡异常要我转账",
             "快递客服说我的包裹丢了要理赔，让我下载会议APP", "刷单返利是真的吗",
             "这个网站 icbc-vip.cc 让我登录认证，是不是骗子"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    from bot import create_app
    from conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN, make_settings
    from fake_oa_cs import FakeOfficialAccount
    from wechat_client import WeChatSender, text_xml

    api = FakeOfficialAccount(TEST_APP_ID, "bench-secret-000000001", quota=1000).start()
    api.images["phone.png"] = screenshot()
    app = create_app(make_settings(Path(tempfile.mkdtemp()), wechat={
        "app_secret": "bench-secret-000000001"}, loop={
        "customer_service": True, "api_base_url": api.base_url, "ocr_workers": 1,
        "ocr_threads": 1, "cs_quota": 100}))
    logging.getLogger().setLevel(logging.WARNING)
    sender = WeChatSender(app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
    desk = app.extensions["loop"].screenshots
    desk.reader.read(api.images["phone.png"])   # load the models before measuring

    def ask_round(n: int) -> list[float]:
        times = []
        for i in range(n):
            t = time.perf_counter()
            response, _ = sender.post(text_xml(QUESTIONS[i % len(QUESTIONS)], from_user=f"oT{i}"))
            assert response.status_code == 200
            times.append((time.perf_counter() - t) * 1000)
        return times

    before = ask_round(200)
    api.user_wrote("oBurst")
    passive = []
    for i in range(args.burst):
        xml = (f"<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[oBurst]]>"
               f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA["
               f"image]]></MsgType><PicUrl><![CDATA[{api.base_url}/cdn/phone.png]]></PicUrl>"
               f"<MediaId><![CDATA[m]]></MediaId><MsgId>{time.time_ns()}</MsgId></xml>")
        t = time.perf_counter()
        sender.post(xml)
        passive.append((time.perf_counter() - t) * 1000)
    during, end = [], time.perf_counter() + args.seconds
    while time.perf_counter() < end:
        during += ask_round(20)
    done = app.extensions["db"]().execute(
        "SELECT COUNT(*), AVG(seconds) FROM screenshot_jobs WHERE status = 'answered'").fetchone()

    def p(values, q):
        return statistics.quantiles(values, n=100)[q - 1]
    print(f"screenshot passive replies: median {statistics.median(passive):.1f} ms, "
          f"max {max(passive):.1f} ms ({args.burst} screenshots)")
    print(f"text answers before the burst: median {statistics.median(before):.1f} ms, "
          f"p99 {p(before, 99):.1f} ms ({len(before)})")
    print(f"text answers during the burst: median {statistics.median(during):.1f} ms, "
          f"p99 {p(during, 99):.1f} ms ({len(during)} in {args.seconds:.0f} s)")
    print(f"screenshots answered in that time: {done[0]} (mean {done[1] or 0:.2f} s each)")
    sys.stdout.flush()
    os._exit(0)   # the rest of the queue is not waited for (it would take minutes)


if __name__ == "__main__":
    main()
