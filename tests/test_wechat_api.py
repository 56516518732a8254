"""The official account's API client against a local fake of api.weixin.qq.com: one shared
token for every process, refreshed by one at a time, retried at most once, always a timeout;
and ``python -m bot menu push / show``."""
import shutil
import threading

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import settings_from_mapping
from bot.content.menu import load_menu
from bot.errors import ContentError
from bot.storage.db import make_db_factory
from bot.storage.library import ensure_database
from bot.wechat.api_client import OfficialAccountApi, WeChatApiError
from fake_wechat_api import APP_ID, APP_SECRET, FakeWeChatApi


class Clock:
    def __init__(self, t=1_800_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fake(clock):
    server = FakeWeChatApi(clock=clock).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory, content_dir):
    """An initialised database, built once and copied into each test (loading content/ is
    most of a test's time otherwise)."""
    path = tmp_path_factory.mktemp("template") / "bot.db"
    db = make_db_factory(path)()
    ensure_database(db, content_dir)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(autouse=True)
def _database(tmp_path, template_db):
    shutil.copy(template_db, tmp_path / "bot.db")


def wechat_settings(tmp_path, content_dir, base_url, **wechat):
    s = settings_from_mapping({
        "database": {"path": str(tmp_path / "bot.db")}, "content": {"dir": str(content_dir)},
        "wechat": {"app_id": APP_ID, "app_secret": APP_SECRET, "api_base_url": base_url,
                   **wechat}}, base_dir=tmp_path)
    ensure_database(make_db_factory(s.database.path)(), s.content.dir)
    return s


@pytest.fixture
def settings(tmp_path, content_dir, fake):
    return wechat_settings(tmp_path, content_dir, fake.base_url)


def api_for(settings, clock, **kw):
    """A client as a separate process would have it: its own database connection."""
    return OfficialAccountApi(settings.wechat, make_db_factory(settings.database.path),
                              clock=clock, **kw)


def test_one_token_is_shared_by_every_process(settings, clock, fake):
    first, second = api_for(settings, clock), api_for(settings, clock)
    assert first.access_token() == second.access_token()
    first.create_menu(load_menu(settings.content.dir))
    second.current_menu()
    assert fake.token_requests == 1


def test_an_expired_token_is_renewed_before_wechat_refuses_it(settings, clock, fake):
    api = api_for(settings, clock)
    token = api.access_token()
    clock.t += 7200 - 300 - 1        # still inside our margin
    assert api.access_token() == token and fake.token_requests == 1
    clock.t += 2
    assert api.access_token() != token and fake.token_requests == 2
    api.current_menu()


def test_a_rejected_token_is_replaced_once_and_the_call_succeeds(settings, clock, fake):
    api = api_for(settings, clock)
    api.access_token()
    fake.revoke_tokens()             # e.g. the AppSecret was reset in the console
    assert api.current_menu()["is_menu_open"] == 0
    assert fake.token_requests == 2


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_a_server_that_keeps_refusing_the_token_gets_two_tries_not_more(settings, clock, fake,
                                                                         errcode):
    api = api_for(settings, clock)
    fake.fail_next(100, errcode)
    with pytest.raises(WeChatApiError) as err:
        api.current_menu()
    assert err.value.errcode == errcode
    calls = [r for r in fake.requests if r[1] == "/cgi-bin/get_current_selfmenu_info"]
    assert len(calls) == 2 and fake.token_requests == 2


def test_concurrent_processes_fetch_the_token_once(tmp_path, content_dir, clock):
    """With /cgi-bin/token every fetch invalidates the previous token: two processes
    refreshing at once would leave one of them with a dead token. Three rounds: a first
    token, then two renewals after expiry."""
    fake = FakeWeChatApi(clock=clock).start()
    try:
        settings = wechat_settings(tmp_path, content_dir, fake.base_url, token_endpoint="token")
        apis = [api_for(settings, clock) for _ in range(10)]
        for round_ in range(1, 4):
            barrier, tokens = threading.Barrier(len(apis)), []

            def worker(api):
                barrier.wait()
                tokens.append(api.access_token())
                api.current_menu()          # the token works: nobody replaced it since

            threads = [threading.Thread(target=worker, args=(api,)) for api in apis]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
            assert len(tokens) == len(apis) and len(set(tokens)) == 1, tokens
            assert fake.token_requests == round_
            clock.t += 7200
    finally:
        fake.stop()


def test_a_process_that_saw_the_stale_token_does_not_fetch_after_another_stored_one(
        settings, clock, fake):
    """The interleaving behind a double refresh, step by step: B finds no valid token, A
    fetches and stores one (releasing its lease), then B tries to take the lease."""
    a, b = api_for(settings, clock), api_for(settings, clock)
    assert b.tokens.valid_token() is None
    token = a.access_token()
    assert not b.tokens.try_lease(15)
    assert b.access_token() == token and fake.token_requests == 1


def test_wrong_secret_is_named_and_the_lease_released(tmp_path, content_dir, clock, fake):
    settings = wechat_settings(tmp_path, content_dir, fake.base_url, app_secret="wrong")
    api = api_for(settings, clock)
    for _ in range(2):               # a second try is not blocked by a stale lease
        with pytest.raises(WeChatApiError) as err:
            api.current_menu()
        assert err.value.errcode == 40125 and "AppSecret" in err.value.message
    assert fake.token_requests == 2


def test_no_app_secret_is_a_clear_error_without_a_request(tmp_path, content_dir, clock, fake):
    settings = wechat_settings(tmp_path, content_dir, fake.base_url, app_secret="")
    with pytest.raises(WeChatApiError, match="WECHAT_APP_SECRET"):
        api_for(settings, clock).access_token()
    assert fake.token_requests == 0


def test_network_failures_are_errors_with_a_timeout(settings, clock, fake):
    api = api_for(settings, clock)
    api.access_token()
    fake.fail_next(1, "disconnect")
    with pytest.raises(WeChatApiError) as err:
        api.current_menu()
    assert err.value.errcode is None
    fake.fail_next(1, "http500")
    with pytest.raises(WeChatApiError, match="HTTP 500"):
        api.current_menu()
    seen = []

    class Recording:
        def request(self, *args, **kwargs):
            seen.append(kwargs.get("timeout"))
            import requests
            return requests.request(*args, **kwargs)

    api_for(settings, clock, session=Recording()).current_menu()
    assert seen and all(t == settings.wechat.api_timeout_seconds for t in seen)


def test_customer_service_window_and_quota(settings, clock, fake):
    api = api_for(settings, clock)
    with pytest.raises(WeChatApiError) as err:
        api.send_text("openid-1", "您好")
    assert err.value.errcode == 45015 and "48 小时" in err.value.message
    fake.user_wrote("openid-1")
    for i in range(5):
        api.send_text("openid-1", f"第{i}条")
    with pytest.raises(WeChatApiError) as err:
        api.send_text("openid-1", "第6条")
    assert err.value.errcode == 45047
    assert [m["text"]["content"] for m in fake.sent] == [f"第{i}条" for i in range(5)]
    fake.user_wrote("openid-2")
    clock.t += 48 * 3600 + 1
    with pytest.raises(WeChatApiError) as err:
        api.send_text("openid-2", "太晚了")
    assert err.value.errcode == 45015


def test_parametric_qr_code(settings, clock, fake):
    api = api_for(settings, clock)
    code = api.create_qrcode("dongcun")
    assert code["ticket"] == "TICKET/dongcun==" and fake.qrcodes == ["dongcun"]
    assert code["image_url"] == ("https://mp.weixin.qq.com/cgi-bin/showqrcode?"
                                 "ticket=TICKET%2Fdongcun%3D%3D")
    fake.verified = False
    with pytest.raises(WeChatApiError) as err:
        api.create_qrcode("xicun")
    assert err.value.errcode == 48001


# -- python -m bot menu ------------------------------------------------------------------------
def config_for(tmp_path, content_dir, base_url):
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\npath = "{tmp_path / "bot.db"}"\n[content]\n'
                    f'dir = "{content_dir}"\n[wechat]\napp_id = "{APP_ID}"\n'
                    f'app_secret = "{APP_SECRET}"\napi_base_url = "{base_url}"\n', "utf-8")
    return path


def run(config, *args):
    return CliRunner().invoke(main, ["--config", str(config), *args])


def test_menu_push_creates_the_menu_and_show_prints_it(tmp_path, content_dir, fake):
    config = config_for(tmp_path, content_dir, fake.base_url)
    r = run(config, "menu", "show")
    assert r.exit_code == 0 and "no custom menu" in r.output
    r = run(config, "menu", "push")
    assert r.exit_code == 0, r.output
    buttons = fake.menu["button"]
    clicks = {b["key"]: b["name"] for top in buttons for b in top.get("sub_button") or [top]}
    assert clicks == {"COMMON_SCAMS": "常见骗局", "I_WAS_SCAMMED": "我被骗了",
                      "REPORT": "举报线索", "ANTI_FRAUD_APP": "反诈APP"}
    r = run(config, "menu", "show")
    assert r.exit_code == 0
    assert "常见骗局  [click COMMON_SCAMS]" in r.output
    assert "  反诈APP  [click ANTI_FRAUD_APP]" in r.output
    assert "same as content/replies.toml" in r.output


def test_menu_push_reports_wechat_errors(tmp_path, content_dir, fake):
    config = config_for(tmp_path, content_dir, fake.base_url)
    fake.fail_next(1, 40164)
    r = run(config, "menu", "push")
    assert r.exit_code == 1 and "errcode 40164" in r.output and "白名单" in r.output
    assert fake.menu is None


def bad_menu(tmp_path, content_dir, menu_toml: str):
    bad = tmp_path / "content"
    bad.mkdir()
    replies = (content_dir / "replies.toml").read_text("utf-8")
    replies = replies[:replies.index("[[wechat_menu]]")] + menu_toml
    (bad / "replies.toml").write_text(replies, "utf-8")
    return bad, replies


@pytest.mark.parametrize("menu_toml, expected", [
    ("".join(f'[[wechat_menu]]\nname = "按钮{i}"\nkey = "REPORT"\n' for i in range(4)),
     "菜单有 4 个一级按钮，微信最多 3 个"),
    ('[[wechat_menu]]\nname = "常见的各种骗局"\nkey = "COMMON_SCAMS"\n',
     "菜单“常见的各种骗局”的名字有 21 字节，最多 16 字节"),
    ('[[wechat_menu]]\nname = "更多"\nsub_buttons = [\n'
     + "".join(f'  {{ name = "子{i}", key = "REPORT" }},\n' for i in range(6)) + "]\n",
     "菜单“更多”的子菜单要有 1 到 5 个，现在有 6 个"),
    ('[[wechat_menu]]\nname = "举报"\nkey = "NO_SUCH_KEY"\n',
     "菜单“举报”的 key“NO_SUCH_KEY”不在 [menu_keys] 里"),
])
def test_a_bad_menu_is_refused_with_its_line(tmp_path, content_dir, menu_toml, expected):
    bad, text = bad_menu(tmp_path, content_dir, menu_toml)
    with pytest.raises(ContentError) as err:
        load_menu(bad)
    problem = next(p for p in err.value.problems if expected in p)
    line = int(problem.split(":")[-2])
    assert problem.startswith(f"{bad / 'replies.toml'}:")
    assert "name" in text.splitlines()[line - 1] or "[[wechat_menu]]" in text.splitlines()[line - 1]


def test_check_content_checks_the_menu(tmp_path, content_dir):
    bad, _ = bad_menu(tmp_path, content_dir,
                      '[[wechat_menu]]\nname = "常见的各种骗局"\nkey = "COMMON_SCAMS"\n')
    for sub in ("cases", "tips", "engine"):
        (bad / sub).symlink_to(content_dir / sub)
    (bad / "taxonomy.tsv").symlink_to(content_dir / "taxonomy.tsv")
    config = tmp_path / "c.toml"
    config.write_text(f'[content]\ndir = "{bad}"\n', "utf-8")
    r = run(config, "check-content")
    assert r.exit_code == 1 and "的名字有 21 字节" in r.output
    r = run(config, "menu", "push")
    assert r.exit_code == 1 and "nothing was sent" in r.output
