"""`python -m bot ...` as a person runs it: a real subprocess for ask, click's runner elsewhere."""
import json
import subprocess
import sys

from click.testing import CliRunner

from bot.cli import main
from bot.config import PROJECT_ROOT
from bot.storage.db import connect
from conftest import write_config


def run(config_file, *args, input=None):
    return CliRunner().invoke(main, ["--config", str(config_file), *args], input=input)


def test_every_command_has_help():
    for name, command in main.commands.items():
        assert command.help, name
        assert CliRunner().invoke(main, [name, "--help"]).exit_code == 0


def test_check_content_ok(config_file):
    r = run(config_file, "check-content")
    assert r.exit_code == 0 and r.output.startswith("ok: ")


def test_check_content_reports_file_and_line(tmp_path, content_dir):
    bad = tmp_path / "content"
    (bad / "cases").mkdir(parents=True)
    (bad / "tips").mkdir()
    (bad / "taxonomy.tsv").write_text((content_dir / "taxonomy.tsv").read_text("utf-8"), "utf-8")
    (bad / "replies.toml").write_text((content_dir / "replies.toml").read_text("utf-8"), "utf-8")
    (bad / "cases" / "xx.md").write_text("---\nid: xx\ncategory: nope\n---\n", "utf-8")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[content]\ndir = "{bad}"\n', "utf-8")
    r = run(cfg, "check-content")
    assert r.exit_code == 1
    assert "content/cases/xx.md:3: 不认识的类别（category）“nope”" in r.output


def test_init_db_is_repeatable_and_keeps_admin_rows(tmp_path):
    # The small bank (every case, a few lines each): each init-db builds its index again.
    config_file = write_config(tmp_path, small=True)
    assert run(config_file, "init-db").exit_code == 0
    db = connect(tmp_path / "bot.db")
    n = db["cases"].count
    db["cases"].insert({"id": "admin-made", "category": "general", "title": "t", "source": "s",
                        "status": "draft", "origin": "admin"})
    some = next(db["cases"].rows_where("origin = 'content'"))
    db["cases"].update(some["id"], {"source": "edited by admin", "origin": "admin"})
    r = run(config_file, "init-db")
    assert r.exit_code == 0 and "'kept_admin': 1" in r.output
    assert db["cases"].count == n + 1
    assert db["cases"].get(some["id"])["source"] == "edited by admin"


def test_ask_subprocess_modes(config_file):
    """One process answers a single question, plain lines, and JSON lines with newlines."""
    base = [sys.executable, "-m", "bot", "--config", str(config_file), "ask"]
    one = subprocess.run(base + ["网贷要先交解冻费"], capture_output=True, text=True,
                         cwd=PROJECT_ROOT, timeout=60)
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["category"] == "fake_loan"
    lines = subprocess.run(base, input="今天天气好\n\n网贷要先交解冻费\n", capture_output=True,
                           text=True, cwd=PROJECT_ROOT, timeout=60)
    answers = [json.loads(ln) for ln in lines.stdout.splitlines()]
    assert [a["category"] for a in answers] == ["none", "fake_loan"]
    payload = json.dumps({"q": "【XX】您的ETC已失效\n请点击 http://etc-xx.cc 认证"},
                         ensure_ascii=False) + "\n" + json.dumps({"q": "你好"}) + "\n"
    jl = subprocess.run(base + ["--jsonl"], input=payload, capture_output=True, text=True,
                        cwd=PROJECT_ROOT, timeout=60)
    cats = [json.loads(ln)["category"] for ln in jl.stdout.splitlines()]
    assert cats == ["fake_subsidy", "none"]


def test_ask_jsonl_rejects_bad_lines(config_file):
    r = run(config_file, "ask", "--jsonl", input='{"q": "你好"}\nnot json\n')
    assert r.exit_code == 1 and "stdin:2: not JSON" in r.output


def test_bad_config_names_the_key(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[wechat]\naes_key = "tooshort"\n', "utf-8")
    r = run(cfg, "check-content")
    assert r.exit_code == 1 and "wechat.aes_key: must be 43 characters" in r.output
