"""Reading screenshots on this machine with ``rapidocr`` on ``onnxruntime`` (installed by
default: the PP-OCRv6 Chinese models are inside the wheel, nothing is downloaded at run time).
The models are loaded once per process, by the first screenshot; ``loop.ocr = false`` (or an
install without rapidocr) makes ``load_reader`` return None and residents are asked to type what
the screenshot says.
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
        from rapidocr import RapidOCR   # imported only when the first screenshot comes
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


_LOADED: dict[int, RapidOcrReader] = {}   # one model load per process and thread count
_LOADING = threading.Lock()


def shared_reader(threads: int) -> RapidOcrReader:
    """This process's reader for ``threads``, loading the models the first time (~1 s)."""
    with _LOADING:
        if threads not in _LOADED:
            _LOADED[threads] = RapidOcrReader(threads)
        return _LOADED[threads]


class LazyReader:
    """Loads the models on the first screenshot, in the worker thread, not at start-up; every
    app of the process (tests build many) shares the one loaded reader."""

    def __init__(self, threads: int):
        self.threads = threads

    def read(self, data: bytes) -> str:
        try:
            reader = shared_reader(self.threads)
        except Exception:  # noqa: BLE001 - a broken install must not kill the worker
            log.exception("OCR models could not be loaded")
            raise OcrError("models not loaded") from None
        return reader.read(data)


def load_reader(enabled: bool, threads: int):
    """The OCR reader, or None when switched off or not installed (said in the log)."""
    if not enabled:
        return None
    import importlib.util
    if importlib.util.find_spec("rapidocr") is None or \
            importlib.util.find_spec("onnxruntime") is None:
        log.warning("OCR is switched on but rapidocr/onnxruntime is not installed; screenshots "
                    "get the 'please type it' reply (pip install -r requirements.txt)")
        return None
    return LazyReader(threads)
