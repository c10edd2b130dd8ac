"""Entry point for `flask --app app ...` and WSGI servers: app = create_app()."""

import gc

from school_prevention import create_app

app = create_app()
# What the app has built (modules, routes, templates, the reports' statements) lives as long as the
# process: out of the collector's full passes, which would otherwise walk it all again while a large
# report or export makes its many small objects (a third of the district's XLSX at 200k students).
gc.collect()
gc.freeze()
