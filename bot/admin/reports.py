"""Weekly statistics."""
from flask import render_template

from . import bp
from .auth import login_required


@bp.get("/report")
@login_required()
def report():
    return render_template("admin/dashboard.html")
