"""roster imports become jobs: uploads kept in the database, runs queued with state, claim, heartbeat and progress

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 10:00:00

Uploads waiting to be applied move from files (roster_import.upload_path) into roster_upload: a
file still found where its row says is read in; one that is not (another machine's disk, already
deleted) leaves its dry run expired, to be uploaded again. A run left 'running' by the web
process's import thread cannot be running after the upgrade (the process was restarted): it is
marked failed, having changed nothing. The old files are not deleted here (a migration that is
rolled back could not bring them back): remove instance/roster-uploads by hand after upgrading.
"""
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

CHUNK_BYTES = 4 * 1024 * 1024


def upgrade():
    op.create_table('roster_upload',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_roster_upload'))
    )
    op.create_table('roster_upload_chunk',
    sa.Column('upload_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['upload_id'], ['roster_upload.id'], name=op.f('fk_roster_upload_chunk_upload_id_roster_upload'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('upload_id', 'seq', name=op.f('pk_roster_upload_chunk'))
    )
    with op.batch_alter_table('roster_import', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queued_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('upload_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('allow_mass_deactivation', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('progress_done', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('progress_total', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('progress_file', sa.String(length=255), nullable=True))

    bind = op.get_bind()
    run = sa.table('roster_import', sa.column('id', sa.Integer), sa.column('status', sa.String),
                   sa.column('started_at', sa.DateTime(timezone=True)), sa.column('finished_at', sa.DateTime(timezone=True)),
                   sa.column('queued_at', sa.DateTime(timezone=True)), sa.column('report', sa.JSON),
                   sa.column('source_name', sa.String), sa.column('upload_path', sa.String),
                   sa.column('upload_id', sa.Integer), sa.column('attempts', sa.Integer))
    upload = sa.table('roster_upload', sa.column('id', sa.Integer), sa.column('file_name', sa.String),
                      sa.column('size_bytes', sa.BigInteger), sa.column('created_at', sa.DateTime(timezone=True)))
    chunk = sa.table('roster_upload_chunk', sa.column('upload_id', sa.Integer), sa.column('seq', sa.Integer),
                     sa.column('data', sa.LargeBinary))
    bind.execute(run.update().values(queued_at=run.c.started_at, attempts=1))
    bind.execute(run.update().where(run.c.status == 'running').values(
        status='failed', finished_at=run.c.started_at,
        report={"refused": "The import was interrupted when the app was upgraded, and changed nothing. "
                           "Run it again."}))
    # Each kept file becomes one upload, shared by the dry run and the attempts that applied it.
    # Kept for UPLOAD_KEEP from the upgrade: an admin who checked an export before it can still apply it.
    created_at = datetime.now(timezone.utc)
    rows = bind.execute(sa.select(run.c.upload_path, sa.func.min(run.c.source_name))
                        .where(run.c.upload_path.is_not(None)).group_by(run.c.upload_path)).all()
    for path, name in rows:
        file = Path(path)
        if not file.is_file():
            continue
        upload_id = bind.execute(upload.insert().values(file_name=(name or file.name)[:255],
                                                        size_bytes=file.stat().st_size, created_at=created_at)
                                 .returning(upload.c.id)).scalar_one()
        with open(file, 'rb') as fh:
            seq = 0
            while data := fh.read(CHUNK_BYTES):
                bind.execute(chunk.insert().values(upload_id=upload_id, seq=seq, data=data))
                seq += 1
        bind.execute(run.update().where(run.c.upload_path == path).values(upload_id=upload_id))

    with op.batch_alter_table('roster_import', schema=None) as batch_op:
        batch_op.alter_column('queued_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index(batch_op.f('ix_roster_import_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_roster_import_upload_id'), ['upload_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_roster_import_upload_id_roster_upload'), 'roster_upload', ['upload_id'], ['id'], ondelete='SET NULL')
        batch_op.drop_column('upload_path')


def downgrade():
    # Uploads kept in the database cannot go back to files: their dry runs read as expired.
    # Runs still queued or running are marked failed (the old app has no queue to run them).
    with op.batch_alter_table('roster_import', schema=None) as batch_op:
        batch_op.add_column(sa.Column('upload_path', sa.String(length=500), nullable=True))
    run = sa.table('roster_import', sa.column('status', sa.String), sa.column('finished_at', sa.DateTime(timezone=True)),
                   sa.column('queued_at', sa.DateTime(timezone=True)))
    op.get_bind().execute(run.update().where(run.c.status.in_(('queued', 'running'))).values(
        status='failed', finished_at=run.c.queued_at))
    op.get_bind().execute(run.update().where(run.c.status == 'abandoned').values(status='failed'))
    with op.batch_alter_table('roster_import', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_roster_import_upload_id_roster_upload'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_roster_import_upload_id'))
        batch_op.drop_index(batch_op.f('ix_roster_import_status'))
        batch_op.drop_column('progress_file')
        batch_op.drop_column('progress_total')
        batch_op.drop_column('progress_done')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('allow_mass_deactivation')
        batch_op.drop_column('upload_id')
        batch_op.drop_column('queued_at')
    op.drop_table('roster_upload_chunk')
    op.drop_table('roster_upload')
