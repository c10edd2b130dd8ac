"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py app:app` (README, Production).

Everything can be set from the environment; command-line flags override this file.

| variable | default | |
|---|---|---|
| `SP_BIND` | `$HOST:$PORT`, else `127.0.0.1:8000` | where to listen; behind a reverse proxy keep it on loopback or a private address |
| `WEB_CONCURRENCY` | 2 per CPU core | worker processes |
| `SP_THREADS` | 4 | threads per worker (gthread) |
| `SP_LOG_LEVEL` | `info` | gunicorn's error log level |

Measured on 2 cores (bench/scale_out.py): gthread workers with a few threads each serve the app's
pages, which spend part of their time waiting on PostgreSQL, better than one request per process.
"""
from __future__ import annotations

import os

_cores = os.cpu_count() or 1

bind = os.environ.get("SP_BIND") or f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * _cores)
worker_class = "gthread"
threads = int(os.environ.get("SP_THREADS") or 4)

# Each worker builds its own app and database pool after the fork: connections never cross processes.
preload_app = False
# A request that takes longer than this is stuck (the longest pages, the district export, take a
# few seconds at a million students); its worker is killed and replaced.
timeout = 60
# On SIGTERM (systemd stop, a deploy) workers finish the requests they have for up to this long.
graceful_timeout = 30
# Behind a reverse proxy that reuses connections.
keepalive = 5
# The heartbeat file in memory: a slow or full disk must not make workers look dead.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Logs to stdout (access) and stderr (errors): the service manager collects them.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("SP_LOG_LEVEL", "info")
# No secret tokens in any log line: invitation, password-reset and calendar links are scrubbed.
logger_class = "school_prevention.access_log.ScrubbingLogger"
# Client address (the proxy's X-Forwarded-For when there is one), request, status, bytes, milliseconds.
access_log_format = '%(h)s %({x-forwarded-for}i)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'


def post_fork(server, worker):
    """Tell the app how many workers serve (before it is loaded): memory:// sign-in limits are then refused."""
    os.environ["WEB_CONCURRENCY"] = str(server.cfg.workers)
