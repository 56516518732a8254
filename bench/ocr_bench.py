"""OCR time for a phone screenshot (1080x2340, an SMS thread in Chinese) on this machine.

Run in the project's virtualenv (rapidocr and onnxruntime are in requirements.txt):
``python bench/ocr_bench.py [--runs 5] [--threads 2]``. Needs a CJK font to draw the picture
(fonts-wqy-microhei). Prints the recognised text, the model load time and per-image times.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
LINES = ["【XX银行】尊敬的客户，您的账户存在异常，", "将于今日冻结，请立即登录", "http://icbc-vip.cc 进行认证，",
         "或联系客服 138 1234 5678。", "", "妈，我换号了，这是我新微信号 abc_12345，", "急用钱，先转5000到这张卡上"]


def screenshot() -> bytes:
    img = Image.new("RGB", (1080, 2340), (237, 237, 237))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 44)
    draw.rectangle((0, 0, 1080, 160), fill=(247, 247, 247))
    draw.text((420, 70), "短信", font=font, fill=(0, 0, 0))
    y = 300
    for block in (LINES[:4], LINES[5:]):
        draw.rounded_rectangle((40, y - 30, 1000, y + 70 * len(block) + 10), 24, fill=(255, 255, 255))
        for line in block:
            draw.text((70, y), line, font=font, fill=(20, 20, 20))
            y += 70
        y += 120
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bot.loop.ocr import RapidOcrReader
    started = time.perf_counter()
    reader = RapidOcrReader(threads=args.threads)
    image = screenshot()
    text = reader.read(image)
    print(f"load + first image: {time.perf_counter() - started:.2f} s")
    print("text:", text.replace("\n", " / "))
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        reader.read(image)
        times.append(time.perf_counter() - t)
    print(f"per screenshot: median {statistics.median(times):.2f} s, max {max(times):.2f} s "
          f"({args.runs} runs, {args.threads} threads)")


if __name__ == "__main__":
    main()
