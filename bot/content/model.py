"""The curated content bank: reading and validating ``content/`` (articles and tips).

Each file is Markdown with a YAML front matter block. The validator collects *every* problem and
reports each as ``path:line: message`` so an editor can fix a whole file in one pass.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import yaml

from ..errors import ContentError

AUDIENCES = ("elderly", "parents", "students", "women", "accountants", "migrant_workers",
             "rural", "general")
# What the console shows for each audience id.
AUDIENCE_NAMES = {"elderly": "老年人", "parents": "家长", "students": "学生", "women": "妇女",
                  "accountants": "财务人员", "migrant_workers": "外出务工人员",
                  "rural": "农村群众", "general": "所有人"}
# Front matter keys as people read them; problems name both (``标题（title）``), so the
# console can put each next to its field and a file editor knows the key.
FIELD_NAMES = {"id": "编号", "category": "类别", "title": "标题", "summary": "一句话概括",
               "audiences": "面向人群", "examples": "群众会怎么问", "keywords": "关键词",
               "sources": "资料来源", "categories": "涉及类别", "seasons": "季节",
               "reviewed": "最近核实日期", "urgent_examples": "紧急说法", "status": "状态"}
SEASONS = ("春节", "开学", "双十一", "毕业季", "高考后", "年终奖")
ARTICLE_SECTIONS = ("套路", "识别要点", "怎么办")
OPTIONAL_SECTIONS = ("案例",)
# An urgent example is a scam in progress right now, or money (or a code) already lost.
URGENT_KINDS = ("in_progress", "lost")
# The only real numbers we ever print: official channels (see DEVELOPERS.md).
OFFICIAL_NUMBERS = frozenset({"110", "96110", "12381", "12321"})
# WeCom robot text messages take at most 2,048 bytes; leave room for the title line.
TIP_MAX_BYTES = 1800
# Official government apps and platforms that advice may name (content/README.md, "Official
# apps"). Any other name in front of APP/客户端/小程序 in advice text is refused.
OFFICIAL_APPS = ("国家反诈中心", "个人所得税", "交管12123", "国家医保服务平台", "电子社保卡",
                 "国家政务服务平台", "国家社会保险公共服务平台", "掌上12333")
# Words that may stand right before APP in advice without naming an app: "陌生APP",
# "官方APP", "对方给的APP", "某某APP", masked "xxAPP".
GENERIC_APP_WORDS = ("的", "和", "或", "陌生", "官方", "不明", "下载", "安装", "装上", "装好",
                     "打开", "保存", "一个", "这个", "那个", "各个", "相关", "聊天", "会议",
                     "借款", "贷款", "购物", "理财类", "诈骗", "某某", "xx", "XX", "在", "用")
# Sites under gov.cn are official; other links must be masked.
OFFICIAL_SITE_SUFFIX = ".gov.cn"
# Local channels: {placeholder} in content -> [local] key in config.toml. A line whose
# placeholder is not configured is left out of replies and pages.
LOCAL_PLACEHOLDERS = {"本地防诈小程序": "mini_program", "本地派出所电话": "police_station_phone",
                      "本地反诈热线": "hotline"}
REVIEW_MAX_AGE_MONTHS = 12

# libyaml's safe loader (shipped in PyYAML's wheels) parses front matter ~10x faster than the
# pure-Python one; the bank's ~3,500 example lines made start-up and every test slow.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n(.*)\Z", re.S)
_SECTION_RE = re.compile(r"^##\s+(.+?)\s*$", re.M)
_DIGITS_RE = re.compile(r"(?<![\dxX*])\d{5,}(?![\dxX*])")
_PHONE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)|(?<!\d)0\d{2,3}-\d{7,8}(?!\d)")
_LINK_RE = re.compile(r"(?:https?://|www\.)[^\s，。；、）)\"'」]+", re.I)
_APP_RE = re.compile(r"([\u4e00-\u9fffA-Za-z0-9]*)[\"“”「」]?\s*(?:APP|App|app|客户端|小程序)")
_PLACEHOLDER_RE = re.compile(r"\{([^{}\s]{1,20})\}")


@dataclass(frozen=True)
class Article:
    id: str
    category: str
    title: str
    summary: str
    audiences: tuple[str, ...]
    examples: tuple[str, ...]
    keywords: tuple[str, ...]
    sources: tuple[str, ...]
    sections: dict = field(hash=False, compare=False)  # name -> markdown text
    body: str = ""
    path: str = ""
    status: str = "published"
    # Residents' lines that are emergencies: (text, kind), kind one of URGENT_KINDS.
    urgent_examples: tuple[tuple[str, str], ...] = ()
    reviewed: str = ""   # YYYY-MM-DD of the last fact check

    def bullets(self, section: str) -> list[str]:
        """The '- ' items of a section, without the markers."""
        return [ln.strip()[2:].strip() for ln in self.sections.get(section, "").splitlines()
                if ln.strip().startswith(("- ", "* "))]

    def section_text(self, section: str) -> str:
        return self.sections.get(section, "").strip()


@dataclass(frozen=True)
class Tip:
    id: str
    title: str
    audiences: tuple[str, ...]
    categories: tuple[str, ...]
    seasons: tuple[str, ...]
    body: str
    path: str = ""
    status: str = "published"
    sources: tuple[str, ...] = ()
    reviewed: str = ""   # YYYY-MM-DD of the last fact check


def load_taxonomy(content_dir: Path) -> dict[str, str]:
    """Taxonomy id -> Chinese name, from content/taxonomy.tsv (a copy of the shared contract)."""
    rows = (content_dir / "taxonomy.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return {parts[0]: parts[1] for parts in (r.split("\t") for r in rows if r.strip())}


class Problems:
    """Collects ``path:line: message`` strings."""

    def __init__(self):
        self.items: list[str] = []

    def add(self, path: str, line: int, message: str) -> None:
        self.items.append(f"{path}:{line}: {message}")


def _split_front_matter(text: str, path: str, problems: Problems):
    m = _FRONT_MATTER_RE.match(text.replace("\r\n", "\n"))
    if not m:
        problems.add(path, 1, "缺少开头的信息块：文件要以一行 '---' 开始，写好各项设置（YAML），"
                              "再以一行 '---' 结束")
        return None, "", 0
    fm_text, body = m.group(1), m.group(2)
    body_start = fm_text.count("\n") + 3  # opening line + front matter + closing line
    try:
        data = yaml.load(fm_text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        # The context mark is where the broken construct starts (an unclosed '['), which is
        # the line to fix; the problem mark is only where the parser gave up.
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else 1
        problems.add(path, line, f"开头的信息块不是正确的 YAML：{getattr(exc, 'problem', exc)}")
        return None, body, body_start
    except ValueError as exc:   # a date-like value that is no date: 'reviewed: 2026-13-45'
        bad = re.search(r"^(\w+):\s*'?\d{4}-\d{2}-\d{2}", fm_text, re.M)
        line = _key_line(fm_text, bad.group(1)) if bad else 2
        problems.add(path, line, f"开头的信息块里有不存在的日期（{exc}）")
        return None, body, body_start
    if not isinstance(data, dict):
        problems.add(path, 2, "开头的信息块应当是“名称: 值”的形式")
        return None, body, body_start
    return (data, fm_text), body, body_start


def _key_line(fm_text: str, key: str) -> int:
    """Line number (in the file) of a top-level front matter key, or 2 if absent."""
    for i, line in enumerate(fm_text.splitlines()):
        if re.match(rf"^{re.escape(key)}\s*:", line):
            return i + 2
    return 2


def label(key: str) -> str:
    """'title' -> '标题（title）'."""
    return f"{FIELD_NAMES.get(key, key)}（{key}）"


def _str_list(data, key, fm_text, path, problems, required=True, minimum=1):
    value = data.get(key)
    line = _key_line(fm_text, key)
    if value is None:
        if required:
            problems.add(path, line, f"缺少{label(key)}")
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        problems.add(path, line, f"{label(key)}应当是一串文字（列表）")
        return ()
    items = tuple(str(v).strip() for v in value if str(v).strip())
    if required and len(items) < minimum:
        problems.add(path, line, f"{label(key)}至少要 {minimum} 条，现在有 {len(items)} 条")
    return items


def _urgent_examples(data, fm_text, path, problems) -> tuple[tuple[str, str], ...]:
    """Optional ``urgent_examples: {in_progress: [...], lost: [...]}`` -> ((text, kind), ...)."""
    value = data.get("urgent_examples")
    if value is None:
        return ()
    line = _key_line(fm_text, "urgent_examples")
    if not isinstance(value, dict) or set(value) - set(URGENT_KINDS):
        problems.add(path, line, f"{label('urgent_examples')}应当在 in_progress（正在被骗）"
                                 f"和/或 lost（已经被骗）下面各列几句话")
        return ()
    items = []
    for kind in URGENT_KINDS:
        lines = value.get(kind) or []
        if isinstance(lines, str):
            lines = [lines]
        if not isinstance(lines, list) or not all(isinstance(v, (str, int)) for v in lines):
            problems.add(path, line, f"紧急说法（urgent_examples.{kind}）应当是一串句子")
            continue
        items += [(str(v).strip(), kind) for v in lines if str(v).strip()]
    return tuple(items)


def _reviewed(data, fm_text, path, problems) -> str:
    """Optional ``reviewed: YYYY-MM-DD``: when the article's facts were last checked."""
    value = data.get("reviewed")
    if value is None:
        return ""
    text = str(value).strip()
    try:
        valid = re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) and date.fromisoformat(text)
    except ValueError:
        valid = False
    if not valid:
        problems.add(path, _key_line(fm_text, "reviewed"),
                     f"{label('reviewed')}应当是像 2026-11-27 这样的日期，不是“{text}”")
        return ""
    return text


def _str_field(data, key, fm_text, path, problems, max_chars=None):
    value = data.get(key)
    line = _key_line(fm_text, key)
    if not isinstance(value, (str, int)) or not str(value).strip():
        problems.add(path, line, f"缺少{label(key)}" if value is None
                     else f"{label(key)}应当是文字")
        return ""
    value = str(value).strip()
    if max_chars and len(value) > max_chars:
        problems.add(path, line, f"{label(key)}有 {len(value)} 个字，最多 {max_chars} 个字")
    return value


def check_safe_text(text: str, path: str, first_line: int, problems: Problems) -> None:
    """Flag numbers that could be dialled and links that could be clicked (must be masked)."""
    for offset, line in enumerate(text.splitlines()):
        lineno = first_line + offset
        for name in OFFICIAL_APPS:   # '交管12123' names an app, not a number to dial
            line = line.replace(name, "")
        for m in _PHONE_RE.finditer(line):
            problems.add(path, lineno, f"电话号码“{m.group()}”没有打码：请写成 138xxxx1234 这样")
        for m in _DIGITS_RE.finditer(line):
            if m.group() not in OFFICIAL_NUMBERS and not _PHONE_RE.search(m.group()):
                problems.add(path, lineno, f"数字“{m.group()}”不是官方渠道（110、96110、12381、"
                                           "12321）：请打码，写成 95xxx 这样")
        for m in _LINK_RE.finditer(line):
            host = re.sub(r"^(?:https?://)?", "", m.group(), flags=re.I).split("/")[0].lower()
            if "xx" not in m.group().lower() and not host.endswith(OFFICIAL_SITE_SUFFIX):
                problems.add(path, lineno, f"网址“{m.group()}”没有打码：请写成 http://etc-xx.cc 这样")


def check_app_names(lines: list[tuple[int, str]], path: str, problems: Problems) -> None:
    """Advice may name only official apps: whatever stands before APP/客户端/小程序 must end
    with a name from OFFICIAL_APPS or a generic word ("陌生APP", "官方APP")."""
    for lineno, line in lines:
        for m in _APP_RE.finditer(line):
            words = m.group(1)
            if not words or words.endswith(OFFICIAL_APPS + GENERIC_APP_WORDS):
                continue
            problems.add(path, lineno, f"“{m.group().strip()}”不是官方APP：建议里只能写"
                                       f"{'、'.join(OFFICIAL_APPS)}（或者说“陌生APP”“官方APP”），"
                                       "见 content/README.md")


def check_placeholders(text: str, path: str, first_line: int, problems: Problems,
                       allowed=LOCAL_PLACEHOLDERS) -> None:
    """Every {…} in an article must be a known local placeholder; tips take none (they are
    pushed to group chats as written)."""
    for offset, line in enumerate(text.splitlines()):
        for m in _PLACEHOLDER_RE.finditer(line):
            if m.group(1) not in allowed:
                use = (f"只能用 {'、'.join('{' + k + '}' for k in allowed)}" if allowed
                       else "提示里不能用本地占位符")
                problems.add(path, first_line + offset, f"不认识的占位符“{m.group()}”（{use}）")


def fill_local(text: str, local: dict[str, str]) -> str:
    """Replace local placeholders with the configured values; drop a line whose placeholder
    has no value, so an unconfigured deployment simply does not mention it."""
    out = []
    for line in text.split("\n"):
        names = _PLACEHOLDER_RE.findall(line)
        values = [local.get(LOCAL_PLACEHOLDERS.get(n, ""), "") for n in names]
        if names and not all(values):
            continue
        for name, value in zip(names, values):
            line = line.replace("{" + name + "}", value)
        out.append(line)
    return "\n".join(out)


def localize(article: Article, local: dict[str, str]) -> Article:
    """The article as residents of this deployment see it (placeholders filled or dropped)."""
    if "{" not in article.body and "{" not in article.summary:
        return article
    sections = {name: fill_local(text, local) for name, text in article.sections.items()}
    return replace(article, summary=fill_local(article.summary, local), sections=sections,
                   body=fill_local(article.body, local))


def _review_due_date(reviewed: date) -> date:
    """The last day on which a review is not yet older than REVIEW_MAX_AGE_MONTHS (a review
    of 29 February is due after 28 February)."""
    months = reviewed.month - 1 + REVIEW_MAX_AGE_MONTHS
    year, month = reviewed.year + months // 12, months % 12 + 1
    return date(year, month, min(reviewed.day, calendar.monthrange(year, month)[1]))


def review_status(reviewed: str, today: date) -> str:
    """'missing', 'stale' (older than 12 months) or 'ok' for a ``reviewed`` date string."""
    if not reviewed:
        return "missing"
    return "stale" if today > _review_due_date(date.fromisoformat(reviewed)) else "ok"


def review_warnings(articles, today: date) -> list[str]:
    """check-content's warnings: one line per article reviewed more than 12 months ago, and one
    line counting the articles with no ``reviewed`` date (the console lists them by name)."""
    warnings, missing = [], []
    for a in articles:
        status = review_status(a.reviewed, today)
        if status == "stale":
            warnings.append(f"WARNING: {a.path}: reviewed {a.reviewed}, more than "
                            f"{REVIEW_MAX_AGE_MONTHS} months ago: check its facts and sources")
        elif status == "missing":
            missing.append(a.id)
    if missing:
        warnings.append(f"WARNING: {len(missing)} article(s) have no 'reviewed' date "
                        f"(e.g. {', '.join(missing[:3])}); see /admin/items/case?review=due")
    return warnings


def _advice_lines(text: str, tip: bool) -> list[tuple[int, str]]:
    """(file line, text) of the advice in a file: an article's '## 怎么办', or a tip's text.
    Examples, the summary and the description of the scam may name what scammers use."""
    lines, section, fences = [], None, 0
    for i, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if fences < 2:
            fences += line.strip() == "---"
            continue
        if line.startswith("## "):
            section = line[3:].strip()
        elif tip or section == "怎么办":
            lines.append((i, line))
    return lines


def _parse_sections(body: str) -> dict[str, str]:
    parts = _SECTION_RE.split(body)
    return {parts[i].strip(): parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def _check_id(data, fm_text, file_path: Path, path, problems) -> str:
    ident = _str_field(data, "id", fm_text, path, problems)
    if ident and not _ID_RE.match(ident):
        problems.add(path, _key_line(fm_text, "id"),
                     f"{label('id')}“{ident}”只能用小写字母、数字和 -")
    elif ident and ident != file_path.stem:
        problems.add(path, _key_line(fm_text, "id"),
                     f"{label('id')}“{ident}”要和文件名“{file_path.stem}”一样")
    return ident


def _check_status(data, fm_text, path, problems) -> str:
    """Optional ``status``: files exported with a draft or archived status keep it."""
    status = data.get("status", "published")
    if status not in ("draft", "published", "archived"):
        problems.add(path, _key_line(fm_text, "status"),
                     f"{label('status')}“{status}”只能是 draft（草稿）、published（已发布）"
                     f"或 archived（已归档）")
        return "published"
    return status


def _check_audiences(items, fm_text, path, problems):
    for a in items:
        if a not in AUDIENCES:
            problems.add(path, _key_line(fm_text, "audiences"),
                         f"不认识的{label('audiences')}“{a}”，可选："
                         + "、".join(f"{k} {v}" for k, v in AUDIENCE_NAMES.items()))


def parse_article(text: str, path: str, taxonomy: dict[str, str], problems: Problems,
                  file_path: Path | None = None) -> Article | None:
    """Parse one article; append every problem; return the Article only when it is valid."""
    before = len(problems.items)
    parsed, body, body_start = _split_front_matter(text, path, problems)
    if parsed is None:
        return None
    data, fm = parsed
    ident = _check_id(data, fm, file_path or Path(path), path, problems)
    category = _str_field(data, "category", fm, path, problems)
    if category and (category not in taxonomy or category == "none"):
        problems.add(path, _key_line(fm, "category"),
                     f"不认识的{label('category')}“{category}”：请用 taxonomy.tsv 里的编号"
                     f"（不能用 none）")
    title = _str_field(data, "title", fm, path, problems, max_chars=60)
    summary = _str_field(data, "summary", fm, path, problems, max_chars=120)
    audiences = _str_list(data, "audiences", fm, path, problems)
    _check_audiences(audiences, fm, path, problems)
    examples = _str_list(data, "examples", fm, path, problems, minimum=3)
    keywords = _str_list(data, "keywords", fm, path, problems, required=False)
    sources = _str_list(data, "sources", fm, path, problems)
    urgent_examples = _urgent_examples(data, fm, path, problems)
    reviewed = _reviewed(data, fm, path, problems)
    status = _check_status(data, fm, path, problems)
    unknown = set(data) - {"id", "category", "title", "summary", "audiences", "examples",
                           "urgent_examples", "keywords", "sources", "reviewed", "updated",
                           "status"}
    for key in sorted(unknown):
        problems.add(path, _key_line(fm, key), f"不认识的设置“{key}”")
    sections = _parse_sections(body)
    for name in ARTICLE_SECTIONS:
        if not sections.get(name):
            problems.add(path, body_start, f"缺少“{name}”一节（## {name}）")
    for name in sections:
        if name not in ARTICLE_SECTIONS + OPTIONAL_SECTIONS:
            line = body_start + body[: body.find(name)].count("\n")
            problems.add(path, line, f"不认识的小节“## {name}”（可用："
                                     f"{'、'.join(ARTICLE_SECTIONS + OPTIONAL_SECTIONS)}）")
    check_safe_text(text, path, 1, problems)
    check_placeholders(text, path, 1, problems)
    check_app_names(_advice_lines(text, tip=False), path, problems)
    if len(problems.items) > before:
        return None
    return Article(id=ident, category=category, title=title, summary=summary,
                   audiences=audiences, examples=examples, keywords=keywords, sources=sources,
                   sections=sections, body=body.strip(), path=path, status=status,
                   urgent_examples=urgent_examples, reviewed=reviewed)


def parse_tip(text: str, path: str, taxonomy: dict[str, str], problems: Problems,
              file_path: Path | None = None) -> Tip | None:
    """Parse one tip; append every problem; return the Tip only when it is valid."""
    before = len(problems.items)
    parsed, body, body_start = _split_front_matter(text, path, problems)
    if parsed is None:
        return None
    data, fm = parsed
    ident = _check_id(data, fm, file_path or Path(path), path, problems)
    title = _str_field(data, "title", fm, path, problems, max_chars=40)
    audiences = _str_list(data, "audiences", fm, path, problems)
    _check_audiences(audiences, fm, path, problems)
    categories = _str_list(data, "categories", fm, path, problems)
    for c in categories:
        if c not in taxonomy or c == "none":
            problems.add(path, _key_line(fm, "categories"), f"不认识的{label('categories')}“{c}”")
    seasons = _str_list(data, "seasons", fm, path, problems, required=False)
    sources = _str_list(data, "sources", fm, path, problems, required=False)
    reviewed = _reviewed(data, fm, path, problems)
    status = _check_status(data, fm, path, problems)
    for s in seasons:
        if s not in SEASONS:
            problems.add(path, _key_line(fm, "seasons"),
                         f"不认识的{label('seasons')}“{s}”，可选：{'、'.join(SEASONS)}")
    body = body.strip()
    if not body:
        problems.add(path, body_start, "提示正文是空的")
    elif len((title + "\n" + body).encode("utf-8")) > TIP_MAX_BYTES:
        problems.add(path, body_start, f"标题和正文共 {len((title + body).encode())} 字节，最多 "
                                       f"{TIP_MAX_BYTES} 字节（企业微信文字消息上限 2048 字节）")
    check_safe_text(text, path, 1, problems)
    check_placeholders(text, path, 1, problems, allowed=())
    check_app_names(_advice_lines(text, tip=True), path, problems)
    if len(problems.items) > before:
        return None
    return Tip(id=ident, title=title, audiences=audiences, categories=categories,
               seasons=seasons, body=body, path=path, status=status, sources=sources,
               reviewed=reviewed)


@dataclass
class Library:
    """The published articles and tips, parsed: what the engine answers from and the scheduler
    pushes, as one value so neither needs the database."""
    tips: list[Tip]
    articles: dict[str, Article]

    def tip(self, tip_id: str) -> Tip | None:
        return next((t for t in self.tips if t.id == tip_id), None)


@dataclass
class ContentBank:
    taxonomy: dict[str, str]
    articles: list[Article]
    tips: list[Tip]


def _read_dir(folder: Path, parser, taxonomy, problems: Problems, root: Path) -> list:
    items, seen = [], {}
    for file_path in sorted(folder.glob("*.md")):
        rel = str(file_path.relative_to(root.parent)) if root.parent in file_path.parents \
            else str(file_path)
        try:
            text = file_path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            problems.add(rel, 1, f"不是 UTF-8 编码的文字（{exc.reason}）")
            continue
        item = parser(text, rel, taxonomy, problems, file_path)
        if item is None:
            continue
        if item.id in seen:
            problems.add(rel, 2, f"{label('id')}“{item.id}”重复了（{seen[item.id]} 里也有）")
            continue
        seen[item.id] = rel
        items.append(item)
    return items


def load_content(content_dir: Path) -> ContentBank:
    """Read and validate every article and tip; raise ContentError listing all problems."""
    content_dir = Path(content_dir)
    problems = Problems()
    try:
        taxonomy = load_taxonomy(content_dir)
    except OSError as exc:
        raise ContentError([f"{content_dir / 'taxonomy.tsv'}:1: 读不了类别表（{exc}）"])
    articles = _read_dir(content_dir / "cases", parse_article, taxonomy, problems, content_dir)
    tips = _read_dir(content_dir / "tips", parse_tip, taxonomy, problems, content_dir)
    article_ids = {a.id for a in articles}
    for tip in tips:
        if tip.id in article_ids:
            problems.add(tip.path, 2, f"{label('id')}“{tip.id}”和一篇案例的编号重复")
    if problems.items:
        raise ContentError(problems.items)
    return ContentBank(taxonomy=taxonomy, articles=articles, tips=tips)


def coverage_problems(bank: ContentBank, minimum: int = 3) -> list[str]:
    """Taxonomy ids (except none) with fewer than ``minimum`` articles."""
    counts = {c: 0 for c in bank.taxonomy if c != "none"}
    for a in bank.articles:
        counts[a.category] = counts.get(a.category, 0) + 1
    return [f"content/cases: 类别“{c}”只有 {n} 篇案例，至少要 {minimum} 篇"
            for c, n in counts.items() if n < minimum]
