"""Issue 14: what a police account must get right. Emergency answers send people to 110 first and
leave stop-payment of the scammer's account to the police; advice names only official apps;
review dates are warned about; local channels come from [local] configuration."""
import re
import shutil
from datetime import date

import pytest

from bot.answering.service import AnswerService
from bot.content.replies import Replies
from bot.config import LocalSettings, settings_from_mapping
from bot.content.model import (Article, fill_local, load_content, localize, review_status,
                         review_warnings)
from bot.errors import ConfigError
from tests.test_content import ARTICLE, make_bank, problems_of

URGENT_QUESTIONS = [
    "我刚刚被骗了转了2万怎么办",
    "刚才给骗子转了五千 现在拉黑我了",
    "验证码已经告诉对方了 卡里的钱被转走了",
    "他还在电话里 让我继续转钱到安全账户",
]


def steps_of(answer: str) -> list[str]:
    """The numbered emergency steps ('1. …') of a reply, in order."""
    return [ln for ln in answer.splitlines() if re.match(r"^\d\.\s", ln)]


def assert_stop_payment_is_for_police(text: str) -> None:
    """Stop-payment and freezing of the scammer's account are ordered by police: any line about
    止付 names the police, and no line tells people to ask a bank to stop payment."""
    for line in text.splitlines():
        if "止付" in line:
            assert "警" in line or "公安" in line, line
            assert not re.search(r"(打|拨打|联系|找|到)[^。；]*银行[^。；]*止付", line), line


def test_emergency_steps_name_110_first_and_leave_stop_payment_to_police(content_dir):
    steps = steps_of(Replies.load(content_dir).emergency_steps)
    assert steps[0].startswith("1.") and "110" in steps[0]
    assert "账号" in steps[0] and "金额" in steps[0]   # what to tell the police
    assert "自己的卡" in steps[1]                       # the bank's part: your own card
    assert_stop_payment_is_for_police("\n".join(steps))


def urgent_questions(bank, per_kind: int = 3) -> list[str]:
    """The fixed questions and the first ``per_kind`` urgent lines of each case and kind: every
    article's emergency answer of either kind, not the 3,000+ lines that compose the same few
    hundred answers again."""
    lines = []
    for a in bank.articles:
        for kind in ("in_progress", "lost"):
            lines += [text for text, k in a.urgent_examples if k == kind][:per_kind]
    return URGENT_QUESTIONS + lines


def test_every_urgent_answer_starts_with_110(service, content_dir):
    asked = 0
    for question in urgent_questions(load_content(content_dir)):
        answer = service.ask(question)
        if not answer["urgent"]:
            continue
        asked += 1
        steps = steps_of(answer["answer"])
        assert steps and "110" in steps[0], question
        assert_stop_payment_is_for_police(answer["answer"])
    assert asked >= len(URGENT_QUESTIONS) - 1


def test_no_advice_asks_a_bank_to_stop_payment(content_dir):
    bank = load_content(content_dir)
    for a in bank.articles:
        assert_stop_payment_is_for_police(a.summary + "\n" + a.body)
    for tip in bank.tips:
        assert_stop_payment_is_for_police(tip.body)


# -- official apps allowlist --------------------------------------------------------------------

def with_step(step: str) -> str:
    return ARTICLE.replace("- 不转钱\n", f"- 不转钱\n- {step}\n")


@pytest.mark.parametrize("step", [
    "在手机上安装国家反诈中心APP",
    "退税只在个人所得税APP里办",
    "违章在交管12123APP里查",
    "医保的事在国家医保服务平台APP里问",
    "不下载陌生APP，也不装对方给的APP",
    "用运营商自己的官方APP查",
    "对方说的某某APP一律不装",
    "上国家政务服务平台查，网址 https://www.gov.cn 也可以",
])
def test_advice_may_name_official_or_generic_apps(tmp_path, content_dir, step):
    bank = make_bank(tmp_path, content_dir, {"demo-case.md": with_step(step)})
    assert len(load_content(bank).articles) == 1


@pytest.mark.parametrize("step", ["下载安心理财APP看收益", "装上\"好运贷\"APP就能借", "用抖音APP举报"])
def test_advice_naming_another_app_is_refused(tmp_path, content_dir, step):
    (problem,) = problems_of(tmp_path, content_dir, {"demo-case.md": with_step(step)})
    assert problem.startswith("content/cases/demo-case.md:") and "不是官方APP" in problem


def test_scam_descriptions_and_examples_may_name_what_scammers_use(tmp_path, content_dir):
    text = ARTICLE.replace("  - 放款前让我买借款保险\n", "  - 他让我下一个叫安心贷的app\n") \
                  .replace("先说能贷，再要各种费用。", "先让你下载\"安心贷\"APP，再要各种费用。")
    bank = make_bank(tmp_path, content_dir, {"demo-case.md": text})
    assert len(load_content(bank).articles) == 1


def test_tip_text_is_advice_too(tmp_path, content_dir):
    tip = ("---\nid: tip-demo\ntitle: 标题\naudiences: [general]\ncategories: [fake_loan]\n---\n"
           + "放款前收费的都是骗子，" * 8 + "下载安心理财APP就能查。\n")
    (problem,) = problems_of(tmp_path, content_dir, {"demo-case.md": ARTICLE}, {"tip-demo.md": tip})
    assert problem.startswith("content/tips/tip-demo.md:7:") and "不是官方APP" in problem


# -- sources and review dates -------------------------------------------------------------------

@pytest.mark.parametrize("reviewed, today, status", [
    ("", date(2026, 11, 27), "missing"),
    ("2026-11-27", date(2027, 11, 27), "ok"),
    ("2026-11-27", date(2027, 11, 28), "stale"),
    ("2024-02-29", date(2025, 2, 28), "ok"),
    ("2024-02-29", date(2025, 3, 1), "stale"),
])
def test_review_is_due_after_twelve_months(reviewed, today, status):
    assert review_status(reviewed, today) == status


def article(ident, reviewed):
    return Article(id=ident, category="fake_loan", title="t", summary="s", audiences=("general",),
                   examples=(), keywords=(), sources=("s",), sections={},
                   path=f"content/cases/{ident}.md", reviewed=reviewed)


def test_review_warnings_name_stale_files_and_count_missing_ones():
    warnings = review_warnings([article("a", "2025-01-02"), article("b", "2026-06-01"),
                                article("c", ""), article("d", "")], today=date(2026, 11, 27))
    assert warnings == [
        "WARNING: content/cases/a.md: reviewed 2025-01-02, more than 12 months ago: check its "
        "facts and sources",
        "WARNING: 2 article(s) have no 'reviewed' date (e.g. c, d); see "
        "/admin/items/case?review=due",
    ]


def test_check_content_warns_but_succeeds(tmp_path, content_dir, runner_for):
    bank = tmp_path / "content"
    shutil.copytree(content_dir, bank)
    case = bank / "cases" / "emergency-just-transferred.md"
    case.write_text(case.read_text("utf-8").replace("reviewed: 2026-11-27", "reviewed: 2020-01-01"),
                    "utf-8")
    r = runner_for(bank)
    assert r.exit_code == 0, r.output
    assert "WARNING: content/cases/emergency-just-transferred.md: reviewed 2020-01-01" in r.output


@pytest.fixture
def runner_for(tmp_path):
    from click.testing import CliRunner

    from bot.cli import main

    def run(content):
        config = tmp_path / "c.toml"
        config.write_text(f'[content]\ndir = "{content}"\n[database]\npath = "{tmp_path / "x.db"}"\n',
                          encoding="utf-8")
        return CliRunner().invoke(main, ["--config", str(config), "check-content"])
    return run


def test_tips_carry_sources_and_review_date(tmp_path, content_dir):
    tip = ("---\nid: tip-demo\ntitle: 标题\naudiences: [general]\ncategories: [fake_loan]\n"
           "sources:\n  - 公安部刑侦局 防范提示（2026年11月）\nreviewed: 2026-11-27\n---\n"
           + "放款前收费的都是骗子，" * 8 + "\n")
    bank = make_bank(tmp_path, content_dir, {"demo-case.md": ARTICLE}, {"tip-demo.md": tip})
    (t,) = load_content(bank).tips
    assert t.sources == ("公安部刑侦局 防范提示（2026年11月）",) and t.reviewed == "2026-11-27"


def test_editing_a_tip_in_the_form_keeps_sources_and_review_date(content_dir):
    from bot.admin.forms import tip_fields, tip_source
    (tip,) = [t for t in load_content(content_dir).tips if t.id == "tip-official-96110"]
    text, _ = tip_source(tip_fields(tip))
    assert tip.sources and "\n".join(f"- {s}" for s in tip.sources) in text
    assert re.search(r"^reviewed: '?2026-11-27'?$", text, re.M)


# -- local channels -----------------------------------------------------------------------------

def test_local_placeholders_are_filled_or_their_line_dropped():
    text = "先问派出所\n- 本地派出所电话：{本地派出所电话}\n- 小程序：{本地防诈小程序}\n最后一行"
    assert fill_local(text, {"police_station_phone": "0571-12345678", "mini_program": ""}) == \
        "先问派出所\n- 本地派出所电话：0571-12345678\n最后一行"
    assert fill_local(text, {}) == "先问派出所\n最后一行"


def test_local_channels_reach_the_reply_only_when_configured(content_dir):
    bank = load_content(content_dir)
    (features,) = [a for a in bank.articles if a.id == "official-phone-anti-fraud-features"]
    assert "{本地防诈小程序}" in features.body
    bare = localize(features, {})
    assert "{" not in bare.body and "本地公安推广的防诈小程序是" not in bare.body
    local = AnswerService(None, content_dir, "https://x.test", 2000,
                          local={"mini_program": "平安东村", "police_station_phone": "0571-12345678"})
    shown = local.article("official-phone-anti-fraud-features")
    assert "平安东村" in shown.body and "0571-12345678" in shown.bullets("怎么办")[-1]
    assert "0571-12345678" in local.compose(shown)


def test_unknown_placeholder_is_refused(tmp_path, content_dir):
    (problem,) = problems_of(tmp_path, content_dir,
                             {"demo-case.md": with_step("打{县反诈中心}的电话")})
    assert "不认识的占位符“{县反诈中心}”" in problem


def test_tips_take_no_placeholders(tmp_path, content_dir):
    tip = ("---\nid: tip-demo\ntitle: 标题\naudiences: [general]\ncategories: [fake_loan]\n---\n"
           + "放款前收费的都是骗子，" * 8 + "问派出所{本地派出所电话}。\n")
    (problem,) = problems_of(tmp_path, content_dir, {"demo-case.md": ARTICLE}, {"tip-demo.md": tip})
    assert "提示里不能用本地占位符" in problem


def test_local_config_is_optional_and_validated():
    assert settings_from_mapping({}).local == LocalSettings()
    s = settings_from_mapping({"local": {"mini_program": "平安东村", "hotline": "0571-96110"}})
    assert s.local.as_dict()["mini_program"] == "平安东村"


@pytest.mark.parametrize("values, key", [
    ({"police_station_phone": "派出所"}, "local.police_station_phone"),
    ({"hotline": "110 转 2"}, "local.hotline"),
    ({"mini_program": "{本地}"}, "local.mini_program"),
    ({"mini_program": "x" * 31}, "local.mini_program"),
    ({"mini_program": 3}, "local.mini_program"),
    ({"town": "东村"}, "local.town"),
])
def test_bad_local_values_name_the_key(values, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        settings_from_mapping({"local": values})

