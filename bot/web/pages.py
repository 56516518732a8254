"""Public pages: the local try-it page at / and the mobile article page /cases/<id>."""
from __future__ import annotations

import html

import markdown
from flask import Blueprint, abort, current_app, render_template
from markupsafe import Markup

bp = Blueprint("pages", __name__)


def render_markdown(text: str) -> Markup:
    """Markdown to HTML with any HTML in the source escaped first (admins type this text)."""
    return Markup(markdown.markdown(html.escape(text, quote=False), output_format="html"))


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
    return render_template("case.html", article=article, sections=sections,
                           category_name=answers.taxonomy.get(article.category, ""))
