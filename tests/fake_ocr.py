"""The OCR seam's fake for tests that are about what happens around the reading (queues,
failures, leads): it returns the text a test wrote into a PNG's tEXt chunk and can be held to
fill the queue. The real model is read in test_loop_ocr.py and measured by bench/ocr_bench.py."""
from __future__ import annotations

import struct
import threading
import zlib

from bot.loop.ocr import OcrError, looks_like_image


def png(text: str) -> bytes:
    """A valid 1x1 PNG carrying ``text`` in a tEXt chunk (what the fake OCR reads)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"tEXt", b"ocr\0" + text.encode("utf-8"))
            + chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(b"IEND", b""))


class FakeOcr:
    """Returns the tEXt chunk's text; ``hold.clear()`` keeps jobs waiting until ``hold.set()``."""
    def __init__(self):
        self.hold = threading.Event()
        self.hold.set()

    def read(self, data: bytes) -> str:
        if not looks_like_image(data):
            raise OcrError("not an image")
        self.hold.wait(5)
        start = data.find(b"tEXtocr\0")
        if start < 0:
            raise OcrError("unreadable")
        length = struct.unpack(">I", data[start - 4:start])[0]
        return data[start + 8:start + 4 + length].decode("utf-8")
