"""The content bank: every shipped file is valid, and broken files are named with their line."""
import re
from pathlib import Path

import pytest

from bot.content.model import (AUDIENCES, OFFICIAL_APPS, OFFICIAL_NUMBERS, coverage_problems,
                               load_content,
                         load_taxonomy)
from bot.errors import ContentError

SHARED_TAXONOMY = Path(__file__).resolve().parents[2] / "shared" / "eval" / "taxonomy.tsv"

ARTICLE = """---
id: demo-case
category: fake_loan
title: 放款前先交钱的都是骗子
summary: 正规贷款放款前不收任何费用。
audiences: [general]
examples:
  - 贷款要先交保证金吗
  - 网贷说卡号填错了要交解冻费
  - 放款前让我买借款保险
sources:
  - 公安机关公开的防范提示
---
## 套路
先说能贷，再要各种费用。

## 识别要点
- 放款前收费

## 怎么办
- 不转钱
"""


@pytest.fixture(scope="module")
def bank(content_dir):
    return load_content(content_dir)


def make_bank(tmp_path, content_dir, files: dict[str, str], tips: dict[str, str] = {}):
    root = tmp_path / "content"
    (root / "cases").mkdir(parents=True)
    (root / "tips").mkdir()
    (root / "taxonomy.tsv").write_text((content_dir / "taxonomy.tsv").read_text("utf-8"), "utf-8")
    for name, text in files.items():
        (root / "cases" / name).write_text(text, encoding="utf-8")
    for name, text in tips.items():
        (root / "tips" / name).write_text(text, encoding="utf-8")
    return root


def problems_of(tmp_path, content_dir, files, tips={}):
    with pytest.raises(ContentError) as exc:
        load_content(make_bank(tmp_path, content_dir, files, tips))
    return exc.value.problems


def test_shipped_content_is_valid_and_covers_every_category(bank):
    assert not coverage_problems(bank, minimum=3)
    assert len(bank.articles) >= 3 * (len(bank.taxonomy) - 1)
    assert len(bank.tips) >= 60


def test_taxonomy_is_the_shared_contract(content_dir):
    if not SHARED_TAXONOMY.exists():
        pytest.skip("../shared/eval not beside the checkout")
    assert load_taxonomy(content_dir) == load_taxonomy(SHARED_TAXONOMY.parent)


def test_every_article_has_what_residents_need(bank):
    for a in bank.articles:
        assert len(a.examples) >= 6, a.id
        assert a.bullets("识别要点") and a.bullets("怎么办"), a.id
        assert set(a.audiences) <= set(AUDIENCES)


def test_only_official_numbers_appear_anywhere(content_dir):
    for path in content_dir.rglob("*"):
        if path.suffix in (".md", ".toml", ".txt", ".tsv"):
            text = path.read_text("utf-8")
            for name in OFFICIAL_APPS:   # '交管12123' names an app, not a number to dial
                text = text.replace(name, "")
            for digits in re.findall(r"\d{5,}", text):
                assert digits in OFFICIAL_NUMBERS, (path, digits)


def test_valid_article_loads(tmp_path, content_dir):
    bank = load_content(make_bank(tmp_path, content_dir, {"demo-case.md": ARTICLE}))
    (a,) = bank.articles
    assert a.category == "fake_loan" and a.bullets("识别要点") == ["放款前收费"]


@pytest.mark.parametrize("change, expected", [
    (("category: fake_loan", "category: loans"), "demo-case.md:3: 不认识的类别（category）“loans”"),
    (("category: fake_loan", "category: none"), "demo-case.md:3: 不认识的类别（category）“none”"),
    (("audiences: [general]", "audiences: [aliens]"), "demo-case.md:6: 不认识的面向人群（audiences）“aliens”"),
    (("id: demo-case", "id: other"), "demo-case.md:2: 编号（id）“other”要和文件名“demo-case”一样"),
    (("title: 放款前先交钱的都是骗子\n", ""), "demo-case.md:2: 缺少标题（title）"),
    (("## 怎么办\n- 不转钱\n", ""), "demo-case.md:14: 缺少“怎么办”一节（## 怎么办）"),
    (("  - 放款前让我买借款保险\n", "  - 加我 13812345678 办理\n"),
     "demo-case.md:10: 电话号码“13812345678”没有打码"),
    (("先说能贷", "打 95511 或访问 http://loan.example.com 先说能贷"),
     "demo-case.md:15: 数字“95511”不是官方渠道"),
    (("先说能贷", "访问 http://loan.example.com 先说能贷"),
     "demo-case.md:15: 网址“http://loan.example.com”没有打码"),
    (("summary: 正规贷款放款前不收任何费用。", "summary: [unclosed"),
     "demo-case.md:5: 开头的信息块不是正确的 YAML"),
])
def test_broken_article_is_named_with_its_line(tmp_path, content_dir, change, expected):
    problems = problems_of(tmp_path, content_dir, {"demo-case.md": ARTICLE.replace(*change)})
    assert any(p.startswith("content/cases/" + expected) for p in problems), problems


def test_all_problems_are_reported_at_once(tmp_path, content_dir):
    bad = ARTICLE.replace("category: fake_loan", "category: x").replace(
        "audiences: [general]", "audiences: [x]")
    problems = problems_of(tmp_path, content_dir, {"demo-case.md": bad,
                                                   "no-front.md": "just text"})
    assert len(problems) == 3
    assert "content/cases/no-front.md:1: 缺少开头的信息块" in problems[2]


def test_masked_examples_are_accepted(tmp_path, content_dir):
    ok = ARTICLE.replace("先说能贷", "短信说 点击 http://etc-xx.cc 或回电 138xxxx1234，先说能贷")
    assert load_content(make_bank(tmp_path, content_dir, {"demo-case.md": ok})).articles


def test_tip_limits(tmp_path, content_dir):
    tip = "---\nid: tip-x\ntitle: 标题\naudiences: [elderly]\ncategories: [fake_loan]\n" \
          "seasons: [国庆]\n---\n" + "很长的提示。" * 200
    problems = problems_of(tmp_path, content_dir, {}, {"tip-x.md": tip})
    assert any("content/tips/tip-x.md:6: 不认识的季节（seasons）“国庆”" in p for p in problems)
    assert any("content/tips/tip-x.md:8: 标题和正文共" in p for p in problems)


def test_duplicate_ids_are_refused(tmp_path, content_dir):
    tip = "---\nid: demo-case\ntitle: t\naudiences: [elderly]\ncategories: [fake_loan]\n---\n正文\n"
    root = make_bank(tmp_path, content_dir, {"demo-case.md": ARTICLE})
    (root / "tips" / "demo-case.md").write_text(tip, "utf-8")
    with pytest.raises(ContentError, match="和一篇案例的编号重复"):
        load_content(root)


def test_urgent_examples_and_review_date_are_parsed(tmp_path, content_dir):
    text = ARTICLE.replace("sources:", "urgent_examples:\n  in_progress:\n    - 他还没挂电话 让我念验证码\n"
                                       "  lost:\n    - 交了三千解冻费 钱没到\nreviewed: 2026-11-27\nsources:")
    bank = make_bank(tmp_path, content_dir, {"demo-case.md": text})
    (article,) = load_content(bank).articles
    assert article.urgent_examples == (("他还没挂电话 让我念验证码", "in_progress"),
                                       ("交了三千解冻费 钱没到", "lost"))
    assert article.reviewed == "2026-11-27"


@pytest.mark.parametrize("front, message", [
    ("urgent_examples:\n  later:\n    - 明天再说\n", "紧急说法（urgent_examples）应当在 in_progress"),
    ("urgent_examples: [转了钱]\n", "紧急说法（urgent_examples）应当在 in_progress"),
    ("reviewed: 去年\n", "最近核实日期（reviewed）应当是像 2026-11-27 这样的日期"),
    ("reviewed: 2026-13-45\n", "不存在的日期"),
])
def test_bad_urgent_examples_or_review_date_name_the_line(tmp_path, content_dir, front, message):
    bank = make_bank(tmp_path, content_dir, {"demo-case.md": ARTICLE.replace("sources:", front + "sources:")})
    with pytest.raises(ContentError) as exc:
        load_content(bank)
    (problem,) = exc.value.problems
    assert problem.startswith("content/cases/demo-case.md:") and message in problem
