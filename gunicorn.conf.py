"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py app:app` (README, Production).

Everything can be set from the environment; command-line flags override this file.

| variable | default | |
|---|---|---|
| `SP_BIND` | `$HOST:$PORT`, else `127.0.0.1:8000` | where to listen; behind a reverse proxy keep it on loopback or a private address |
| `WEB_CONCURRENCY` | one per CPU core | worker processes |
| `SP_THREADS` | 4 | threads per worker (gthread) |
| `SP_LOG_LEVEL` | `info` | gunicorn's error log level |

Chosen with bench/scale_out.py on a 2-core machine (16 users without pause on the student page and
on a bare Flask 'ok'; server CPU per answer, the figure other work on the machine hardly moves):
gthread 2 workers x 4 threads 11.0-12.4 ms a page and 0.70 ms an 'ok'; 2 x 2 10.4 and 0.68; 4 x 4
12.7 and 0.89; 3 x 4 14.1 and 0.90; 4 x 2 12.8 and 0.75; sync 4 workers 13.0-14.1 and 0.96-0.97;
sync 8 15.1 and 1.02. One worker per core uses both cores (each process runs Python on one at a
time); more workers, or sync workers (one request a process, a new connection each), cost CPU in
switching and connection setup without adding throughput. A few threads per worker fill the time a
request waits on PostgreSQL and keep one slow request (an export, the district report) from holding
up the rest; 4 rather than 2 for that, at no measurable cost. (Requests per second and latencies
were too noisy to rank the settings: other work took 45-80% of that machine meanwhile.)
"""

from __future__ import annotations

import os

_cores = os.cpu_count() or 1

bind = os.environ.get("SP_BIND") or f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or _cores)
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
# Client address as the app saw it (from X-Forwarded-For behind SP_TRUSTED_PROXIES proxies), time,
# method, path, protocol, status, bytes, milliseconds, browser. No query string and no referrer: a
# student search (/students?q=…) would write a child's name into the log.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'


def post_fork(server, worker):
    """Tell the app how many workers serve (before it is loaded): memory:// sign-in limits are then refused."""
    os.environ["WEB_CONCURRENCY"] = str(server.cfg.workers)
