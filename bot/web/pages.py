"""Public pages: the local try-it page at / and the mobile article page /cases/<id>."""
from __future__ import annotations

import html
import re

import markdown
from datetime import datetime, timezone

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

from ..errors import BadRequest
from ..loop import feedback

bp = Blueprint("pages", __name__)

SAFE_SCHEMES = ("http", "https", "mailto")
_SCHEME_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


def is_safe_url(value: str) -> bool:
    """True for http, https, mailto and relative URLs, judged as a browser reads the attribute:
    character references decoded, tabs and newlines removed, leading controls and spaces
    stripped (so ``&#106;avascript:`` and ``java\tscript:`` are recognised)."""
    url = re.sub(r"[\t\n\r]", "", html.unescape(value)).lstrip(_C0_AND_SPACE)
    m = _SCHEME_RE.match(url)
    return m is None or m.group(1).lower() in SAFE_SCHEMES


class _DropUnsafeUrls(Treeprocessor):
    """Removes every link target or image source that is not a safe URL (the text stays)."""

    def run(self, root):
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is not None and not is_safe_url(value):
                    del element.attrib[attribute]


class _SafeUrls(markdown.Extension):
    def extendMarkdown(self, md):  # noqa: N802 - Markdown's API name
        md.treeprocessors.register(_DropUnsafeUrls(md), "drop_unsafe_urls", 0)


def render_markdown(text: str) -> Markup:
    """Markdown to HTML with any HTML in the source escaped first (admins type this text) and
    only http, https, mailto and relative URLs kept in links and images (an editor's
    ``javascript:`` link must not run in an admin's browser)."""
    return Markup(markdown.markdown(html.escape(text, quote=False), output_format="html",
                                    extensions=[_SafeUrls()]))


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/cases/<case_id>")
def case_page(case_id: str):
    answers = current_app.extensions["answers"]
    answers.refresh()
    article = answers.article(case_id)
    if article is None:
        abort(404)
    sections = [(name, render_markdown(text)) for name, text in article.sections.items()]
    secret = current_app.config["SETTINGS"].admin.secret_key
    return render_template("case.html", article=article, sections=sections,
                           category_name=answers.taxonomy.get(article.category, ""),
                           feedback_token=feedback.form_token(secret, case_id),
                           thanks=request.args.get("thanks") == "1")


@bp.post("/cases/<case_id>/feedback")
def case_feedback(case_id: str):
    """有用 / 没用 from the case page. No session here: the form carries a token signed for this
    case, so a POST not made from one of our pages is refused (CSRF-safe without cookies)."""
    if current_app.extensions["feedback_limiter"].hit(request.remote_addr or "unknown"):
        raise BadRequest("评价太频繁了，请稍后再试。", status=429)
    secret = current_app.config["SETTINGS"].admin.secret_key
    if feedback.token_case(secret, request.form.get("token", "")) != case_id:
        raise BadRequest("页面已过期，请刷新后再评价。")
    vote = request.form.get("vote", "")
    if vote not in ("useful", "useless"):
        raise BadRequest("请选择“有用”或“没用”。")
    feedback.record(current_app.extensions["db"](), "web", case_id, vote == "useful",
                    request.form.get("reason", ""), now=datetime.now(timezone.utc))
    return redirect(url_for("pages.case_page", case_id=case_id, thanks=1) + "#feedback", 303)
