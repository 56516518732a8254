"""Reading screenshots on this machine. OCR is an optional dependency (``rapidocr`` with
``onnxruntime``: PP-OCR Chinese models inside the wheel, nothing downloaded at run time); without
it ``load_reader`` returns None and residents are asked to type what the screenshot says.
"""
from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

# Magic numbers of the formats WeChat sends; anything else is "not an image".
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


class OcrError(Exception):
    """The picture could not be read (not an image, or the OCR failed)."""


def looks_like_image(data: bytes) -> bool:
    return data.startswith(_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


class RapidOcrReader:
    """rapidocr 3.x with its shipped PP-OCR models, on ``threads`` CPU threads; one call at a
    time per reader (onnxruntime sessions are shared, the pipeline objects are not)."""

    def __init__(self, threads: int = 1):
        from rapidocr import RapidOCR   # optional dependency, imported only when enabled
        self._engine = RapidOCR(params={
            "Global.log_level": "warning",
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        })
        self._lock = threading.Lock()

    def read(self, data: bytes) -> str:
        if not looks_like_image(data):
            raise OcrError("not an image")
        try:
            with self._lock:
                result = self._engine(data)
        except Exception as exc:  # noqa: BLE001 - any decoder/model failure is an OCR failure
            raise OcrError(type(exc).__name__) from None
        return "\n".join(t for t in (getattr(result, "txts", None) or ()) if t.strip())


class LazyReader:
    """Loads the models on the first screenshot, in the worker thread, not at start-up."""

    def __init__(self, threads: int):
        self.threads = threads
        self._reader = None
        self._lock = threading.Lock()

    def read(self, data: bytes) -> str:
        with self._lock:
            if self._reader is None:
                self._reader = RapidOcrReader(self.threads)
        return self._reader.read(data)


def load_reader(enabled: bool, threads: int):
    """The OCR reader, or None when switched off or not installed (said once in the log)."""
    if not enabled:
        return None
    import importlib.util
    if importlib.util.find_spec("rapidocr") is None or \
            importlib.util.find_spec("onnxruntime") is None:
        log.warning("OCR is switched on but rapidocr/onnxruntime is not installed; screenshots "
                    "get the 'please type it' reply (pip install -r requirements-ocr.txt)")
        return None
    return LazyReader(threads)
