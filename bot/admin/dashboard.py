"""Dashboard (filled in below by the statistics work)."""
from flask import render_template

from . import bp
from .auth import login_required


@bp.get("/")
@login_required()
def dashboard():
    return render_template("admin/dashboard.html")
