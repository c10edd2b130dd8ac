"""Restricted text is encrypted with SP_DATA_KEY, and the key can be rotated without losing notes."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from school_prevention import crypto
from school_prevention.flags.services import read_note
from tests.factories import make_flag, make_school, make_student, make_user


def test_key_rotation_keeps_every_note_readable(app, db_session):
    counselor = make_user("counselor", schools=[(school := make_school())])
    flag = make_flag(make_student(school), counselor, note="Confidential detail")
    db_session.commit()
    old_key, new_key = app.config["SP_DATA_KEY"], Fernet.generate_key().decode()
    before = db_session.execute(text("SELECT note_ciphertext FROM risk_flag")).scalar()
    app.config["SP_DATA_KEY"] = f"{new_key},{old_key}"
    try:
        result = app.test_cli_runner().invoke(args=["crypto", "rotate"])
        assert result.exit_code == 0 and "Re-encrypted 1 value" in result.output
        after = db_session.execute(text("SELECT note_ciphertext FROM risk_flag")).scalar()
        assert after != before
        app.config["SP_DATA_KEY"] = new_key  # the old key is gone now
        db_session.expire_all()
        assert read_note(counselor, flag)["note"] == "Confidential detail"
        app.config["SP_DATA_KEY"] = old_key  # and the old key alone can no longer read it
        with pytest.raises(crypto.UnreadableNote):
            crypto.decrypt(after)
    finally:
        app.config["SP_DATA_KEY"] = old_key
