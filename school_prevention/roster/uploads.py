"""Uploaded OneRoster zips kept in the database: stored in chunks, written out for a worker, deleted."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO, cast

from sqlalchemy import CursorResult, delete, insert, select, update

from school_prevention.extensions import db
from school_prevention.roster.models import RosterImport, RosterUpload, RosterUploadChunk

# Bytes per stored chunk: small enough that no statement carries a large value (psycopg sends
# bytea as text, twice its size), large enough that a district's zip is a few dozen rows.
CHUNK_BYTES = 4 * 1024 * 1024
CHUNK = RosterUploadChunk.__table__
RUN = RosterImport.__table__


class UploadError(Exception):
    """The file cannot be kept as a roster export; the message says why, for the form field."""


def store(stream: BinaryIO, file_name: str, *, max_bytes: int) -> RosterUpload:
    """Check the stream is a zip of at most max_bytes and keep it; flushes, the caller commits.

    Nothing is written before both checks pass, so a refused file leaves nothing behind.
    """
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    if size > max_bytes:
        raise UploadError(
            f"This file is {size / 2**20:,.0f} MB; the largest export the import takes is {max_bytes / 2**20:,.0f} MB."
        )
    if not zipfile.is_zipfile(stream):
        raise UploadError("This file is not a readable zip archive.")
    stream.seek(0)
    upload = RosterUpload(file_name=file_name[:255], size_bytes=size)
    db.session.add(upload)
    db.session.flush()
    seq = 0
    while chunk := stream.read(CHUNK_BYTES):
        db.session.execute(insert(CHUNK), {"upload_id": upload.id, "seq": seq, "data": chunk})
        seq += 1
    return upload


def write_to(upload_id: int, target: Path) -> Path | None:
    """Write an upload's bytes to target, a chunk at a time; None when the upload no longer exists."""
    if db.session.get(RosterUpload, upload_id) is None:
        return None
    with open(target, "wb") as fh:
        seq = 0
        while True:
            # One chunk per query: a driver would otherwise fetch every chunk of the file at once.
            data = db.session.scalar(select(CHUNK.c.data).where(CHUNK.c.upload_id == upload_id, CHUNK.c.seq == seq))
            if data is None:
                break
            fh.write(data)
            seq += 1
    return target


def delete_uploads(upload_ids: Iterable[int]) -> int:
    """Delete these uploads and their bytes, and unlink the runs that pointed to them; returns how many."""
    ids = list(upload_ids)
    if not ids:
        return 0
    db.session.execute(update(RUN).where(RUN.c.upload_id.in_(ids)).values(upload_id=None))
    db.session.execute(delete(CHUNK).where(CHUNK.c.upload_id.in_(ids)))
    result = db.session.execute(delete(RosterUpload.__table__).where(RosterUpload.__table__.c.id.in_(ids)))
    return cast(CursorResult[Any], result).rowcount
