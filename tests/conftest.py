"""Fixtures in flaskr's chain: settings -> app -> client / runner; a fresh SQLite file per test.

Every test builds its settings from one base (``test_config``): as Settings (``make_settings``)
or as a config.toml file (``write_config`` / the ``config_file`` fixture) for the CLI and the
scheduler's own process. Tests name only what they change.

Each test's database starts as a copy of one made once per session by ``init-db`` from
content/, and its answer index as hard links to the indexes built so far in the session
(keyed by content digest and never changed in place: a test that publishes the same content as
an earlier one finds its index built), so a test neither parses the content bank again nor
builds the same index again, in its own process or in the CLI, scheduler and server processes
it starts. ``fresh=True`` gives a test an empty database instead (it still shares the indexes).
"""
from __future__ import annotations

import copy
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from bot import create_app
from bot.config import PROJECT_ROOT, settings_from_mapping

TEST_TOKEN = "testtoken123"
TEST_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TEST_APP_ID = "wx1234567890abcdef"
TEST_SECRET_KEY = "test-secret-key-not-the-shipped-one"
CONTENT_DIR = PROJECT_ROOT / "content"
PUBLIC_URL = "https://bot.example.test"
DEV_SETS = PROJECT_ROOT.parent / "shared" / "eval"   # absent beside a worktree: skipped there


def bank_and_dev_texts(content_dir: Path) -> list[str]:
    """Every document of the bank, then the development sets' messages (when beside the
    checkout): the texts a query path is checked on, unnormalised."""
    import json

    from bot.answering.engine import _documents, load_offtopic
    from bot.content.model import load_content
    articles = load_content(content_dir).articles
    texts = [d[3] for d in _documents(articles, load_offtopic(content_dir / "engine"))]
    for name in ("dev.jsonl", "dev2.jsonl"):
        path = DEV_SETS / name
        if path.exists():
            texts += [json.loads(ln)["q"] for ln in path.read_text("utf-8").splitlines()
                      if ln.strip()]
    return texts

BASE_CONFIG = {
    # record_batch_ms 0: rows are written before the response, so tests can read them.
    "wechat": {"token": TEST_TOKEN, "aes_key": TEST_AES_KEY, "app_id": TEST_APP_ID,
               "record_batch_ms": 0},
    "server": {"public_url": PUBLIC_URL},
    "api": {"rate_limit_per_minute": 1000},
    "admin": {"secret_key": TEST_SECRET_KEY},
}


def test_config(folder: Path, groups=(), content_dir: Path = CONTENT_DIR, **sections) -> dict:
    """The base test configuration with a database in ``folder``; ``sections`` override keys
    section by section (``admin={"idle_minutes": 5}``)."""
    config = copy.deepcopy(BASE_CONFIG)
    config["database"] = {"path": str(Path(folder) / "bot.db")}
    config["content"] = {"dir": str(content_dir)}
    config["scheduler"] = {"lock_path": str(Path(folder) / "scheduler.lock")}
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    if groups:
        config["groups"] = [dict(g) for g in groups]
    return config


test_config.__test__ = False   # a helper, not a test


_TEMPLATE: dict[str, Path] = {}   # content dir -> its template folder
_SMALL_BANK: list[Path] = []      # the small bank's folder, once made
_TEMPLATE_LOCK = threading.Lock()
# The small bank: every case, tip and setting of content/, with only the first few of each
# case's example and urgent lines and of each off-topic file's lines. The admin and CLI tests
# publish into it: what they check (drafts, publishing, history, the bot answering a new case)
# does not need 15,000 lines, and every publish builds the index of the whole bank again.
SMALL_BANK_LINES = {"examples": 8, "in_progress": 3, "lost": 3, "offtopic": 30}


def _trimmed_case(text: str) -> str:
    """A case file with the first lines of each of its lists of example lines kept."""
    out, kind, kept = [], None, 0
    for line in text.split("\n"):
        stripped = line.strip()
        if line == "examples:" or line in ("  in_progress:", "  lost:"):
            kind, kept = stripped.rstrip(":"), 0
        elif kind and stripped.startswith("- ") and line.startswith("  "):
            kept += 1
            if kept > SMALL_BANK_LINES[kind]:
                continue
        elif not line.startswith("  ") or stripped.endswith(":"):
            kind = None
        out.append(line)
    return "\n".join(out)


def small_content_dir() -> Path:
    """The small bank (``SMALL_BANK_LINES``), made once per session from content/."""
    with _TEMPLATE_LOCK:
        if not _SMALL_BANK:
            folder = Path(tempfile.mkdtemp(prefix="bot-test-small-bank-")) / "content"
            shutil.copytree(CONTENT_DIR, folder)
            for case in (folder / "cases").glob("*.md"):
                case.write_text(_trimmed_case(case.read_text("utf-8")), "utf-8")
            for lines in (folder / "engine").glob("offtopic*.txt"):
                kept = [ln for ln in lines.read_text("utf-8").splitlines()
                        if ln.strip() and not ln.startswith("#")][:SMALL_BANK_LINES["offtopic"]]
                lines.write_text("\n".join(kept) + "\n", "utf-8")
            _SMALL_BANK.append(folder)
        return _SMALL_BANK[0]


def _template(content_dir: Path = CONTENT_DIR) -> Path:
    """A folder with bot.db made by init-db from ``content_dir`` and its answer index, once per
    session (the WAL checkpointed into the file, so the file alone is the database)."""
    with _TEMPLATE_LOCK:
        if str(content_dir) not in _TEMPLATE:
            from bot.answering.index import IndexStore, default_index_dir
            from bot.answering.service import IndexBuilder
            from bot.storage.db import make_db_factory
            from bot.storage.library import PublishedContent, ensure_database
            folder = Path(tempfile.mkdtemp(prefix="bot-test-template-"))
            path = folder / "bot.db"
            factory = make_db_factory(path)
            ensure_database(factory(), content_dir)
            IndexBuilder(PublishedContent(factory, content_dir), content_dir,
                         IndexStore(default_index_dir(path))).build()
            factory().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            _TEMPLATE[str(content_dir)] = folder
        return _TEMPLATE[str(content_dir)]


_SEEDED: list[Path] = []


def _link_index(source: Path, target: Path) -> None:
    """A built index directory, hard-linked (copied across file systems), appearing whole."""
    tmp = Path(tempfile.mkdtemp(prefix=".linking-", dir=target.parent))
    for f in source.iterdir():
        try:
            os.link(f, tmp / f.name)
        except OSError:
            shutil.copyfile(f, tmp / f.name)
    os.rename(tmp, target)


def _share_built_indexes(cache: Path) -> None:
    """Indexes that earlier tests built (they published other content) join the session's
    store, so a later test publishing the same content finds its index built."""
    for folder in _SEEDED:
        try:
            built = [p for p in (folder / "bot-index").iterdir() if not p.name.startswith(".")
                     and (p / "manifest.json").is_file() and not (cache / p.name).exists()]
        except OSError:
            continue
        for entry in built:
            _link_index(entry, cache / entry.name)


def seed_folder(folder: Path, database: bool = True, content_dir: Path = CONTENT_DIR) -> None:
    """Start ``folder`` from the session's template: every answer index built so far in the
    session (hard links: an index directory is never changed in place), and the database
    unless ``database`` is false (then only indexes already built are found)."""
    folder, template = Path(folder), _template(content_dir)
    if (folder / "bot.db").exists() or (folder / "bot-index").exists():
        return
    source = template / "bot-index"
    _share_built_indexes(source)
    (folder / "bot-index").mkdir(parents=True)
    for entry in source.iterdir():
        if entry.is_dir() and not entry.name.startswith("."):
            _link_index(entry, folder / "bot-index" / entry.name)
    _SEEDED.append(folder)
    if database:
        shutil.copyfile(source / "current.json", folder / "bot-index" / "current.json")
        shutil.copyfile(template / "bot.db", folder / "bot.db")


def _seeds(folder: Path, sections: dict) -> bool:
    """Only a test's own folder with the real content bank is seeded."""
    return Path(folder).is_dir() and "database" not in sections and \
        "dir" not in sections.get("content", {})


def make_settings(folder: Path, groups=(), environ=None, fresh: bool = False,
                  small: bool = False, **sections):
    """Settings for a test's folder; ``small``: over the small bank (``small_content_dir``)."""
    content_dir = small_content_dir() if small else CONTENT_DIR
    if _seeds(folder, sections):
        seed_folder(folder, database=not fresh, content_dir=content_dir)
    return settings_from_mapping(test_config(folder, groups, content_dir, **sections),
                                 base_dir=Path(folder), source="tests",
                                 environ={} if environ is None else environ)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(folder: Path, groups=(), fresh: bool = False, small: bool = False,
                 **sections) -> Path:
    """The same configuration as a config.toml file in ``folder``."""
    content_dir = small_content_dir() if small else CONTENT_DIR
    if _seeds(folder, sections):
        seed_folder(folder, database=not fresh, content_dir=content_dir)
    config = test_config(folder, groups, content_dir, **sections)
    lines = []
    for name, values in config.items():
        if name == "groups":
            continue
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    for g in config.get("groups", []):
        lines.append("[[groups]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in g.items()]
    path = Path(folder) / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True, scope="session")
def _case_pages_wait_for_slow_builds():
    """A case page waits 10 s for the background build of a case published a moment ago; the
    tests check that the page appears, and on a loaded machine a build can take longer."""
    from bot.answering.service import AnswerService
    AnswerService.article_wait_seconds = 60.0


@pytest.fixture(scope="session")
def content_dir() -> Path:
    return CONTENT_DIR


@pytest.fixture(scope="session")
def service(content_dir, tmp_path_factory):
    """An answer service over content/, shared by the modules that only ask it questions: it
    holds its engine, so no later build evicts it from the process's small engine cache and
    no module builds it again. It reads a copy of the session template (the database init-db
    made from content/ and its built index), so it loads the index the template built rather
    than building the same content a second time."""
    from bot.answering.index import default_index_dir
    from bot.answering.service import AnswerService
    from bot.storage.db import make_db_factory
    from bot.storage.library import PublishedContent
    folder = tmp_path_factory.mktemp("service")
    seed_folder(folder)
    path = folder / "bot.db"
    return AnswerService(PublishedContent(make_db_factory(path), content_dir), content_dir,
                         PUBLIC_URL, 2000, index_dir=default_index_dir(path))


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


@pytest.fixture
def config_file(tmp_path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session", autouse=True)
def _remove_template():
    yield
    # (the tests' hard links stay valid)
    for folder in [*_TEMPLATE.values(), *(bank.parent for bank in _SMALL_BANK)]:
        shutil.rmtree(folder, ignore_errors=True)
    _TEMPLATE.clear()
    _SMALL_BANK.clear()
