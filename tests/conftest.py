"""Fixtures in flaskr's chain: settings -> app -> client / runner; a fresh SQLite file per test."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot import create_app
from bot.config import PROJECT_ROOT, settings_from_mapping

TEST_TOKEN = "testtoken123"
TEST_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TEST_APP_ID = "wx1234567890abcdef"
TEST_SECRET_KEY = "test-secret-key-not-the-shipped-one"


@pytest.fixture(scope="session")
def content_dir() -> Path:
    return PROJECT_ROOT / "content"


@pytest.fixture
def settings(tmp_path, content_dir):
    return settings_from_mapping({
        "database": {"path": str(tmp_path / "bot.db")},
        "content": {"dir": str(content_dir)},
        # record_batch_ms 0: rows are written before the response, so tests can read them.
        "wechat": {"token": TEST_TOKEN, "aes_key": TEST_AES_KEY, "app_id": TEST_APP_ID,
                   "record_batch_ms": 0},
        "server": {"public_url": "https://bot.example.test"},
        "api": {"rate_limit_per_minute": 1000},
        "admin": {"secret_key": TEST_SECRET_KEY},
    }, base_dir=tmp_path, source="tests")


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
