"""training and awareness: courses, completions, instruments that need a training, awareness pages

Revision ID: 0016
Revises: 0015 (until it exists: the newest revision before 0016)
Create Date: 2026-12-03 14:19:15

- course: the catalogue of staff training (provider, hours, renewal period, roles it is required of),
  seeded with three courses;
- training_completion: a person completed a course on a day, valid through expires_on; one row per
  person, course and day (unique index: a double click or a file imported again adds nothing);
- instrument.required_course_id: a screening with the instrument needs a current completion of the
  course; the seeded CSE-IT instruments need "CSE-IT screener";
- awareness_page (+ awareness_page_version, awareness_confirmation): pages per role, every version
  kept, and who confirmed reading which version.
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

COURSES = [
    # name, provider, hours, renewal months, required of, description
    ("Recognising signs of commercial sexual exploitation", "District prevention office", 2.0, 12,
     "staff,counselor,principal",
     "Warning signs of trafficking and exploitation, grooming online and in person, and how to route a concern."),
    ("Trauma-informed practice", "District prevention office", 6.0, 24, "counselor,principal",
     "How trauma shows in behaviour and learning; responding without re-traumatising."),
    ("CSE-IT screener", "WestCoast Children's Clinic", 3.0, 24, "counselor",
     "Certification to administer the Commercial Sexual Exploitation-Identification Tool (CSE-IT)."),
]
SCREENER = "CSE-IT screener"


def upgrade():
    op.create_table('course',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('provider', sa.String(length=200), nullable=True),
    sa.Column('hours', sa.Float(), nullable=True),
    sa.Column('renewal_months', sa.Integer(), nullable=True),
    sa.Column('required_for', sa.String(length=100), server_default='', nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('hours IS NULL OR hours >= 0', name=op.f('ck_course_hours_not_negative')),
    sa.CheckConstraint('renewal_months IS NULL OR renewal_months > 0', name=op.f('ck_course_renewal_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_course')),
    sa.UniqueConstraint('name', name=op.f('uq_course_name'))
    )
    op.create_table('awareness_page',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('audience', sa.String(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_published', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'], name=op.f('fk_awareness_page_updated_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_awareness_page')),
    sa.UniqueConstraint('title', name=op.f('uq_awareness_page_title'))
    )
    op.create_table('training_completion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('completed_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("source IN ('manual', 'import')", name=op.f('ck_training_completion_source_known')),
    sa.CheckConstraint('expires_on IS NULL OR expires_on >= completed_on', name=op.f('ck_training_completion_expires_after_completion')),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_training_completion_course_id_course')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user_account.id'], name=op.f('fk_training_completion_recorded_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_training_completion_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_completion'))
    )
    with op.batch_alter_table('training_completion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_completion_course_id'), ['course_id'], unique=False)
        batch_op.create_index('uq_training_completion_user_id_course_id_completed_on', ['user_id', 'course_id', 'completed_on'], unique=True)

    op.create_table('awareness_confirmation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('page_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['page_id'], ['awareness_page.id'], name=op.f('fk_awareness_confirmation_page_id_awareness_page'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_awareness_confirmation_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_awareness_confirmation'))
    )
    with op.batch_alter_table('awareness_confirmation', schema=None) as batch_op:
        batch_op.create_index('ix_awareness_confirmation_page_id_version', ['page_id', 'version'], unique=False)
        batch_op.create_index('uq_awareness_confirmation_user_id_page_id_version', ['user_id', 'page_id', 'version'], unique=True)

    op.create_table('awareness_page_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('page_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_awareness_page_version_created_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['page_id'], ['awareness_page.id'], name=op.f('fk_awareness_page_version_page_id_awareness_page'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_awareness_page_version'))
    )
    with op.batch_alter_table('awareness_page_version', schema=None) as batch_op:
        batch_op.create_index('uq_awareness_page_version_page_id_version', ['page_id', 'version'], unique=True)

    with op.batch_alter_table('instrument', schema=None) as batch_op:
        batch_op.add_column(sa.Column('required_course_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_instrument_required_course_id_course'), 'course', ['required_course_id'], ['id'])

    seed_courses()


def seed_courses():
    """The three courses, and the CSE-IT instruments (seeded by 0002) needing the screener course."""
    course = sa.table("course", sa.column("name", sa.String), sa.column("provider", sa.String),
                      sa.column("hours", sa.Float), sa.column("renewal_months", sa.Integer),
                      sa.column("required_for", sa.String), sa.column("description", sa.Text),
                      sa.column("is_active", sa.Boolean), sa.column("created_at", sa.DateTime(timezone=True)))
    bind = op.get_bind()
    now = datetime.now(timezone.utc)
    if bind.dialect.name == "sqlite":  # stored as naive UTC there, as the app's UTCDateTime does
        now = now.replace(tzinfo=None)
    op.bulk_insert(course, [
        {"name": name, "provider": provider, "hours": hours, "renewal_months": months, "required_for": roles,
         "description": text, "is_active": True, "created_at": now}
        for name, provider, hours, months, roles, text in COURSES
    ])
    bind.execute(sa.text(
        "UPDATE instrument SET required_course_id = (SELECT id FROM course WHERE name = :course) "
        "WHERE name LIKE 'CSE-IT%'"), {"course": SCREENER})


def downgrade():
    with op.batch_alter_table('instrument', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_instrument_required_course_id_course'), type_='foreignkey')
        batch_op.drop_column('required_course_id')

    with op.batch_alter_table('awareness_page_version', schema=None) as batch_op:
        batch_op.drop_index('uq_awareness_page_version_page_id_version')

    op.drop_table('awareness_page_version')
    with op.batch_alter_table('awareness_confirmation', schema=None) as batch_op:
        batch_op.drop_index('uq_awareness_confirmation_user_id_page_id_version')
        batch_op.drop_index('ix_awareness_confirmation_page_id_version')

    op.drop_table('awareness_confirmation')
    with op.batch_alter_table('training_completion', schema=None) as batch_op:
        batch_op.drop_index('uq_training_completion_user_id_course_id_completed_on')
        batch_op.drop_index(batch_op.f('ix_training_completion_course_id'))

    op.drop_table('training_completion')
    op.drop_table('awareness_page')
    op.drop_table('course')
