"""Fixtures in flaskr's chain: settings -> app -> client / runner; a fresh SQLite file per test.

Every test builds its settings from one base (``test_config``): as Settings (``make_settings``)
or as a config.toml file (``write_config`` / the ``config_file`` fixture) for the CLI and the
scheduler's own process. Tests name only what they change.
"""
from __future__ import annotations

import copy
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

BASE_CONFIG = {
    # record_batch_ms 0: rows are written before the response, so tests can read them.
    "wechat": {"token": TEST_TOKEN, "aes_key": TEST_AES_KEY, "app_id": TEST_APP_ID,
               "record_batch_ms": 0},
    "server": {"public_url": PUBLIC_URL},
    "api": {"rate_limit_per_minute": 1000},
    "admin": {"secret_key": TEST_SECRET_KEY},
}


def test_config(folder: Path, groups=(), **sections) -> dict:
    """The base test configuration with a database in ``folder``; ``sections`` override keys
    section by section (``admin={"idle_minutes": 5}``)."""
    config = copy.deepcopy(BASE_CONFIG)
    config["database"] = {"path": str(Path(folder) / "bot.db")}
    config["content"] = {"dir": str(CONTENT_DIR)}
    config["scheduler"] = {"lock_path": str(Path(folder) / "scheduler.lock")}
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    if groups:
        config["groups"] = [dict(g) for g in groups]
    return config


test_config.__test__ = False   # a helper, not a test


def make_settings(folder: Path, groups=(), environ=None, **sections):
    return settings_from_mapping(test_config(folder, groups, **sections), base_dir=Path(folder),
                                 source="tests", environ={} if environ is None else environ)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(folder: Path, groups=(), **sections) -> Path:
    """The same configuration as a config.toml file in ``folder``."""
    config = test_config(folder, groups, **sections)
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


@pytest.fixture(scope="session")
def content_dir() -> Path:
    return CONTENT_DIR


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
