"""Where built answer indexes live: one directory per content digest under the index root,
written atomically (a temporary directory renamed into place), and a pointer file naming the
index of the current content version. Builders (``python -m bot build-index``, ``init-db``, the
scheduler, a worker's background thread) take a lock file so only one builds at a time; request
workers only read the pointer and map the arrays.

    var/bot-index/
      current.json             {"content_version": 7, "digest": "3f…", "schema": "2:id,…"}
      build.lock
      3f…/manifest.json, vocab.npy, post_ptr.npy, …, articles.pickle
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .engine import Engine, index_schema
from .text import Normalizer

log = logging.getLogger(__name__)

KEEP_INDEXES = 4   # older index directories are removed (mapped files stay valid until unmapped)


def default_index_dir(database_path: Path) -> Path:
    """The index lives beside the database it was built from: var/bot.db -> var/bot-index/."""
    database_path = Path(database_path)
    return database_path.with_name(database_path.stem + "-index")


@dataclass(frozen=True)
class Pointer:
    content_version: int
    digest: str
    schema: str


class IndexStore:
    """The index directories and the pointer to the current one."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def pointer_path(self) -> Path:
        return self.root / "current.json"

    def current(self) -> Pointer | None:
        """The index of the newest built content version (None if none, or another schema)."""
        try:
            data = json.loads(self.pointer_path.read_text(encoding="utf-8"))
            pointer = Pointer(int(data["content_version"]), str(data["digest"]), str(data["schema"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return pointer if pointer.schema == index_schema() and self.has(pointer.digest) else None

    def has(self, digest: str) -> bool:
        return (self.root / digest / "manifest.json").is_file()

    @contextmanager
    def build_lock(self):
        """One builder at a time across processes (the others wait, then find it built)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "build.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def write(self, digest: str, engine: Engine | Callable[[Path], Engine]) -> Engine | None:
        """Save an index under its digest: into a temporary directory, then one rename, so a
        reader sees either no index or a whole one. ``engine``: a built one, or a function
        that builds it into the directory it is given (``Engine(..., out_dir=...)``: the
        arrays go to their files as the build finishes them). Returns the engine (None if
        the index was there already). Call with the build lock held."""
        final = self.root / digest
        if self.has(digest):
            return None
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=self.root))
        try:
            if not isinstance(engine, Engine):
                engine = engine(tmp)
            engine.save(tmp)
            for f in tmp.iterdir():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            shutil.rmtree(final, ignore_errors=True)   # a half-written one from a crash
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return engine   # its arrays stay mapped from the renamed files

    def point(self, content_version: int, digest: str) -> None:
        """Make ``digest`` the index of ``content_version`` (atomic replace of the pointer)."""
        data = {"content_version": content_version, "digest": digest, "schema": index_schema()}
        fd, tmp = tempfile.mkstemp(prefix=".current-", dir=self.root)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.pointer_path)
        self._prune(keep=digest)

    def load(self, digest: str, normalizer: Normalizer) -> Engine:
        return Engine.load(self.root / digest, normalizer)

    def _prune(self, keep: str) -> None:
        """Remove leftovers of crashed builds and all but the newest few indexes."""
        entries = [p for p in self.root.iterdir() if p.is_dir()]
        for p in entries:
            if p.name.startswith(".building-") and p.name != keep:
                try:   # another builder may still be writing one of ours: only old ones
                    if os.stat(p).st_mtime < os.stat(self.pointer_path).st_mtime - 3600:
                        shutil.rmtree(p, ignore_errors=True)
                except OSError:
                    pass
        built = sorted((p for p in entries if not p.name.startswith(".") and p.name != keep),
                       key=lambda p: p.stat().st_mtime, reverse=True)
        for p in built[KEEP_INDEXES - 1:]:
            shutil.rmtree(p, ignore_errors=True)
