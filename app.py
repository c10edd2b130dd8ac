"""Entry point for `flask --app app ...` and WSGI servers: app = create_app()."""
from school_prevention import create_app

app = create_app()
