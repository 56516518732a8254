"""Configuration: file, environment overrides, and errors that name the key."""
import pytest

from bot.config import ENV_OVERRIDES, load_settings
from bot.errors import ConfigError

GOOD = """
[wechat]
token = "filetoken"
aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
[database]
path = "data/x.db"
"""


def write(tmp_path, text):
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_file_values_and_relative_paths(tmp_path):
    s = load_settings(write(tmp_path, GOOD), environ={})
    assert s.wechat.token == "filetoken"
    assert s.database.path == tmp_path / "data" / "x.db"
    assert not s.wechat.uses_dev_placeholders


def test_environment_overrides_the_file(tmp_path):
    env = {"WECHAT_TOKEN": "envtoken", "WECHAT_APP_ID": "wxenv", "WECHAT_APP_SECRET": "sekrit",
           "WECHAT_AES_KEY": "Z" * 43, "BOT_SECRET_KEY": "s" * 32,
           "WECOM_APP_SECRET": "app-sekrit", "RELAY_SECRET": "r" * 20}
    s = load_settings(write(tmp_path, GOOD), environ=env)
    assert (s.wecom.app_secret, s.relay.secret) == ("app-sekrit", "r" * 20)
    assert (s.wechat.token, s.wechat.app_id, s.wechat.app_secret, s.wechat.aes_key) == \
        ("envtoken", "wxenv", "sekrit", "Z" * 43)
    assert s.admin.secret_key == "s" * 32
    assert set(ENV_OVERRIDES) == set(env)


def test_bot_config_selects_the_file(tmp_path):
    p = write(tmp_path, GOOD)
    assert load_settings(environ={"BOT_CONFIG": str(p)}).wechat.token == "filetoken"


@pytest.mark.parametrize("text, key", [
    ('[wechat]\naes_key = "short"\n', "wechat.aes_key"),
    ('[wechat]\ntoken = "a b"\n', "wechat.token"),
    ('[server]\nport = "80"\n', "server.port"),
    ('[server]\nport = 70000\n', "server.port"),
    ('[server]\ncolour = "red"\n', "server.colour"),
    ('[nonsense]\nx = 1\n', "nonsense"),
    ('[wechat]\nreply_max_bytes = 5000\n', "wechat.reply_max_bytes"),
])
def test_bad_values_name_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as exc:
        load_settings(write(tmp_path, text), environ={})
    assert exc.value.message.startswith(key + ":")


def test_bad_aes_key_from_environment_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"^wechat.aes_key: must be 43"):
        load_settings(write(tmp_path, GOOD), environ={"WECHAT_AES_KEY": "x" * 42})


def test_broken_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config.toml"):
        load_settings(write(tmp_path, "[wechat\n"), environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_shipped_config_is_valid_and_marked_as_development():
    s = load_settings(environ={})
    assert s.wechat.uses_dev_placeholders
    assert s.server.host == "127.0.0.1" and s.server.port == 8000
