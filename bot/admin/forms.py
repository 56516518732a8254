"""Editor form fields <-> content source text, and problems mapped back to the fields.

Admins edit cases and tips in a form; the form becomes exactly the Markdown + front matter of a
content/ file, validated by the same parser as ``check-content``. Each problem the parser
reports (``path:line: message``) is shown next to the field that produced that line.
"""
from __future__ import annotations

import re

import yaml

CASE_SECTIONS = ("套路", "识别要点", "怎么办", "案例")
BULLET_SECTIONS = ("识别要点", "怎么办")
_LINE_RE = re.compile(r"^[^:]+\.md:(\d+): (.*)$")


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in (text or "").replace("\r\n", "\n").split("\n") if ln.strip()]


def _front_matter(data: dict) -> tuple[list[str], dict[int, str]]:
    """YAML lines for the keys in order, and which key each line belongs to (1-based file lines)."""
    out, owner = ["---"], {}
    for key, value in data.items():
        if value in (None, "", [], (), {}):
            continue
        dumped = yaml.safe_dump({key: value}, allow_unicode=True, sort_keys=False, width=4096,
                                default_flow_style=None if key in ("audiences", "categories",
                                                                   "seasons", "keywords")
                                else False).rstrip("\n").split("\n")
        for ln in dumped:
            out.append(ln)
            owner[len(out)] = key
    out.append("---")
    return out, owner


def case_source(f: dict) -> tuple[str, dict[int, str]]:
    """Source text of a case from form fields; line -> field name."""
    fm, owner = _front_matter({
        "id": f.get("id", "").strip(), "category": f.get("category", "").strip(),
        "title": f.get("title", "").strip(), "summary": f.get("summary", "").strip(),
        "audiences": list(f.get("audiences") or []), "examples": _lines(f.get("examples")),
        "keywords": [k.strip() for k in re.split(r"[,，、\n]", f.get("keywords", "")) if k.strip()],
        "sources": _lines(f.get("sources")),
        "urgent_examples": {k: v for k, v in (("in_progress", _lines(f.get("urgent_in_progress"))),
                                             ("lost", _lines(f.get("urgent_lost")))) if v},
        "reviewed": f.get("reviewed", "").strip(),
    })
    lines = fm
    for section in CASE_SECTIONS:
        text = (f.get(section) or "").strip()
        if not text:
            continue
        if section in BULLET_SECTIONS:
            text = "\n".join(ln if ln.startswith(("- ", "* ")) else f"- {ln}" for ln in _lines(text))
        lines.append("")
        lines.append(f"## {section}")
        owner[len(lines)] = section
        for ln in text.split("\n"):
            lines.append(ln)
            owner[len(lines)] = section
    return "\n".join(lines) + "\n", owner


def tip_source(f: dict) -> tuple[str, dict[int, str]]:
    fm, owner = _front_matter({
        "id": f.get("id", "").strip(), "title": f.get("title", "").strip(),
        "audiences": list(f.get("audiences") or []),
        "categories": list(f.get("categories") or []), "seasons": list(f.get("seasons") or []),
        "sources": _lines(f.get("sources")), "reviewed": f.get("reviewed", "").strip(),
    })
    lines = fm
    for ln in (f.get("body") or "").strip().replace("\r\n", "\n").split("\n"):
        lines.append(ln)
        owner[len(lines)] = "body"
    return "\n".join(lines) + "\n", owner


def case_fields(article) -> dict:
    return {"id": article.id, "category": article.category, "title": article.title,
            "summary": article.summary, "audiences": list(article.audiences),
            "examples": "\n".join(article.examples), "keywords": "，".join(article.keywords),
            "sources": "\n".join(article.sources),
            "urgent_in_progress": "\n".join(t for t, k in article.urgent_examples
                                            if k == "in_progress"),
            "urgent_lost": "\n".join(t for t, k in article.urgent_examples if k == "lost"),
            "reviewed": article.reviewed,
            **{s: ("\n".join(article.bullets(s)) if s in BULLET_SECTIONS
                   else article.section_text(s)) for s in CASE_SECTIONS}}


def tip_fields(tip) -> dict:
    return {"id": tip.id, "title": tip.title, "audiences": list(tip.audiences),
            "categories": list(tip.categories), "seasons": list(tip.seasons), "body": tip.body,
            "sources": "\n".join(tip.sources), "reviewed": tip.reviewed}


def field_errors(problems: list[str], owner: dict[int, str]) -> dict[str, list[str]]:
    """{field: [messages]} from parser problems; unplaceable ones under '_form'."""
    errors: dict[str, list[str]] = {}
    for p in problems:
        m = _LINE_RE.match(p)
        message = m.group(2) if m else p
        field = None
        section = re.search(r"“(.+?)”一节", message)
        key = re.search(r"（(id|category|title|summary|audiences|examples|keywords|sources|"
                        r"categories|seasons|reviewed)）", message)
        if "urgent_examples" in message:
            field = "urgent_lost" if "lost" in message else "urgent_in_progress"
        elif section:
            field = section.group(1)
        elif key:
            field = key.group(1)
        elif m:
            field = owner.get(int(m.group(1)))
            if field is None and "category" in message:
                field = "category"
        errors.setdefault(field or "_form", []).append(message)
    return errors
