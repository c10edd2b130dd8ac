"""The access and error logs never carry the secret tokens of invitation, reset and calendar links."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config as GunicornConfig

from school_prevention.access_log import ScrubbingLogger, ScrubTokens, scrub

TOKEN = "q8Zr3xY-_Fv0kLmN2pQsT4uVwX6yZaBcDeFgHiJkLmN"


def _logger(tmp_path, fmt=None):
    cfg = GunicornConfig()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("errorlog", str(tmp_path / "error.log"))
    if fmt:
        cfg.set("access_log_format", fmt)
    return ScrubbingLogger(cfg)


def _access_line(logger, tmp_path, raw_uri, referer="-"):
    path = raw_uri.split("?", 1)[0]
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": raw_uri,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_REFERER": referer,
    }
    response = SimpleNamespace(status="200 OK", sent=12, headers=[("Content-Type", "text/html")])
    request = SimpleNamespace(headers=[("REFERER", referer)])
    logger.access(response, request, environ, timedelta(milliseconds=3))
    for handler in logger.access_log.handlers:
        handler.flush()
    return (tmp_path / "access.log").read_text().splitlines()[-1]


@pytest.mark.parametrize(
    "raw_uri, shown",
    [
        (f"/welcome/{TOKEN}", "/welcome/…"),
        (f"/password/reset/{TOKEN}?next=/", "/password/reset/…?next=/"),
        (f"/calendar/{TOKEN}.ics", "/calendar/….ics"),
        (f"/password%2Freset/{TOKEN}", "/password%2Freset/…"),
    ],
)
def test_access_log_hides_link_tokens(tmp_path, raw_uri, shown):
    logger = _logger(tmp_path, '%(h)s "%(r)s" %(s)s %(U)s "%(f)s" %({referer}i)s %({raw_uri}e)s')
    line = _access_line(logger, tmp_path, raw_uri, referer=f"https://sp.example.org/welcome/{TOKEN}")
    assert TOKEN not in line
    assert f'"GET {shown} HTTP/1.1" 200' in line and '"https://sp.example.org/welcome/…"' in line


def test_access_log_keeps_other_paths_whole(tmp_path):
    line = _access_line(_logger(tmp_path), tmp_path, "/students/4711?page=2")
    assert '"GET /students/4711?page=2 HTTP/1.1" 200 12' in line


def test_error_log_and_flask_messages_hide_link_tokens(tmp_path):
    record = logging.LogRecord(
        "school_prevention",
        logging.ERROR,
        __file__,
        1,
        "Exception on %s [%s]",
        (f"/password/reset/{TOKEN}", "POST"),
        None,
    )
    assert ScrubTokens().filter(record) and record.getMessage() == "Exception on /password/reset/… [POST]"
    logger = _logger(tmp_path)
    logger.error("Invalid request from %s: GET /calendar/%s.ics", "10.0.0.7", TOKEN)
    for handler in logger.error_log.handlers:
        handler.flush()
    assert "/calendar/….ics" in (tmp_path / "error.log").read_text()
    assert TOKEN not in (tmp_path / "error.log").read_text()


def test_the_production_format_leaves_out_query_strings_and_referrers(tmp_path):
    """A student search would otherwise write a child's name into the access log."""
    import runpy

    from school_prevention.config import PROJECT_ROOT

    fmt = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))["access_log_format"]
    line = _access_line(
        _logger(tmp_path, fmt),
        tmp_path,
        "/students?q=Maya+Okafor",
        referer="https://sp.example.org/students?q=Maya+Okafor",
    )
    assert '"GET /students HTTP/1.1" 200' in line and "Maya" not in line
    line = _access_line(_logger(tmp_path, fmt), tmp_path, f"/welcome/{TOKEN}")
    assert '"GET /welcome/… HTTP/1.1" 200' in line and TOKEN not in line


def test_scrub_leaves_text_without_links_alone():
    assert scrub("GET /welcome/ HTTP/1.1") == "GET /welcome/ HTTP/1.1"
    assert scrub("nothing to see") == "nothing to see"


def test_the_development_server_log_carries_no_token(app, caplog):
    """bin/run serves with Werkzeug: its request lines are scrubbed too."""
    import logging

    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logging.getLogger("werkzeug").info('127.0.0.1 - - "GET /welcome/s3cr3t-T0ken_abcdefghijklmnop HTTP/1.1" 200 -')
    assert "s3cr3t" not in caplog.text and "/welcome/…" in caplog.text
