"""Residents' questions."""
from flask import render_template

from . import bp
from .auth import login_required


@bp.get("/questions")
@login_required()
def questions():
    return render_template("admin/dashboard.html")
