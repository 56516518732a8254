"""Push log."""
from flask import render_template

from . import bp
from .auth import login_required


@bp.get("/pushes")
@login_required()
def pushes():
    return render_template("admin/dashboard.html")
