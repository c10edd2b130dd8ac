"""A bare Flask app answering 'ok': the floor bench/scale_out.py sets the student page against.

Served by the same gunicorn settings as the app (`gunicorn -c gunicorn.conf.py bench.bare_ok:app`).
"""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def ok():
    """The least a Flask view under gunicorn can do."""
    return "ok"
