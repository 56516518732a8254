"""The floor for bench/webhook_bench.py: a Flask app that answers POST /wechat with 'success'
and does nothing else, served by gunicorn with the same settings as the real app."""
from flask import Flask

app = Flask(__name__)


@app.post("/wechat")
def wechat():
    return "success"
