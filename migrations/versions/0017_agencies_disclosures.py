"""outside agencies, guardians and consents, disclosures, parent inspection requests, urgent referral escalation

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 16:00:00

- agency: the directory of outside agencies (child welfare, law enforcement, juvenile justice,
  health, runaway and homeless youth services, community programs), kept by the admin;
- agency_referral (+ agency_referral_event): a student referred to an agency, sent -> accepted /
  declined -> services started -> closed with an outcome, with follow-up dates; one open referral
  of a student to an agency (partial unique index);
- guardian (+ guardian_student): parents and guardians from the roster (OneRoster users.csv);
- consent: a guardian's consent to share a student's records (scope, categories, dates, revocation);
- disclosure (+ disclosure_student): every sharing outside the school (34 CFR 99.32);
- inspection_request: a guardian's request to inspect the record, due in 45 days; one open per
  guardian and student (partial unique index);
- referral.first_opened_at / first_opened_by_id / escalated_at / routed_to_id: urgent referrals nobody
  opened are escalated to the principal, once; a school with no active counselor routes to the district
  counselor.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

UNOPENED_URGENT = "urgency = 'urgent' AND first_opened_at IS NULL AND escalated_at IS NULL"  # referrals.models.UNOPENED_URGENT


def upgrade():
    op.create_table('agency',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('contact_name', sa.String(length=200), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('address', sa.String(length=500), nullable=True),
    sa.Column('website', sa.String(length=300), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('child_welfare', 'law_enforcement', 'juvenile_justice', 'health', 'runaway_homeless', 'community')", name=op.f('ck_agency_kind_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agency')),
    sa.UniqueConstraint('name', name=op.f('uq_agency_name'))
    )
    op.create_table('guardian',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sourced_id', sa.String(length=255), nullable=False),
    sa.Column('given_name', sa.String(length=255), nullable=False),
    sa.Column('family_name', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('sms', sa.String(length=64), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('parent', 'guardian')", name=op.f('ck_guardian_role_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guardian')),
    sa.UniqueConstraint('sourced_id', name=op.f('uq_guardian_sourced_id'))
    )
    op.create_table('consent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('agency_kind', sa.String(length=30), nullable=True),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('purpose', sa.String(length=500), nullable=True),
    sa.Column('document', sa.String(length=300), nullable=True),
    sa.Column('given_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_on', sa.Date(), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_reason', sa.String(length=500), nullable=True),
    sa.CheckConstraint("agency_kind IS NULL OR agency_kind IN ('child_welfare', 'law_enforcement', 'juvenile_justice', 'health', 'runaway_homeless', 'community')", name=op.f('ck_consent_agency_kind_known')),
    sa.CheckConstraint("scope IN ('any_agency', 'agency_kind', 'agency')", name=op.f('ck_consent_scope_known')),
    sa.CheckConstraint('expires_on IS NULL OR expires_on >= given_on', name=op.f('ck_consent_expires_after_given')),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_consent_agency_id_agency')),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardian.id'], name=op.f('fk_consent_guardian_id_guardian')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user_account.id'], name=op.f('fk_consent_recorded_by_id_user_account')),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['user_account.id'], name=op.f('fk_consent_revoked_by_id_user_account')),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_consent_student_id_student')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent'))
    )
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.create_index('ix_consent_student_id_guardian_id', ['student_id', 'guardian_id'], unique=False)

    op.create_table('guardian_student',
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardian.id'], name=op.f('fk_guardian_student_guardian_id_guardian'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_guardian_student_student_id_student'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('guardian_id', 'student_id', name=op.f('pk_guardian_student'))
    )
    with op.batch_alter_table('guardian_student', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guardian_student_student_id'), ['student_id'], unique=False)

    op.create_table('disclosure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=300), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('legal_basis', sa.String(length=30), nullable=False),
    sa.Column('consent_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('student_count', sa.Integer(), nullable=False),
    sa.Column('disclosed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.CheckConstraint("legal_basis <> 'parental_consent' OR consent_id IS NOT NULL", name=op.f('ck_disclosure_consent_on_file')),
    sa.CheckConstraint("legal_basis IN ('parental_consent', 'health_safety_emergency', 'mandated_report', 'court_order', 'school_official', 'parent_inspection')", name=op.f('ck_disclosure_legal_basis_known')),
    sa.CheckConstraint("source IN ('recorded', 'agency_referral', 'mandated_report', 'student_export', 'inspection')", name=op.f('ck_disclosure_source_known')),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_disclosure_agency_id_agency')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['user_account.id'], name=op.f('fk_disclosure_approved_by_id_user_account')),
    sa.ForeignKeyConstraint(['consent_id'], ['consent.id'], name=op.f('fk_disclosure_consent_id_consent')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user_account.id'], name=op.f('fk_disclosure_recorded_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure'))
    )
    with op.batch_alter_table('disclosure', schema=None) as batch_op:
        batch_op.create_index('ix_disclosure_source', ['source', 'source_id'], unique=False)

    op.create_table('agency_referral',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason_ciphertext', sa.Text(), nullable=True),
    sa.Column('agency_reference', sa.String(length=100), nullable=True),
    sa.Column('referred_by_id', sa.Integer(), nullable=False),
    sa.Column('referred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status_changed_by_id', sa.Integer(), nullable=True),
    sa.Column('follow_up_on', sa.Date(), nullable=True),
    sa.Column('follow_up_seq', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=30), nullable=True),
    sa.Column('outcome_note_ciphertext', sa.Text(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disclosure_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('services_completed', 'services_ongoing', 'family_declined', 'agency_declined', 'no_longer_needed', 'moved_away', 'other')", name=op.f('ck_agency_referral_outcome_known')),
    sa.CheckConstraint("status <> 'closed' OR outcome IS NOT NULL", name=op.f('ck_agency_referral_closed_has_outcome')),
    sa.CheckConstraint("status IN ('sent', 'accepted', 'declined', 'services_started', 'closed')", name=op.f('ck_agency_referral_status_known')),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_agency_referral_agency_id_agency')),
    sa.ForeignKeyConstraint(['disclosure_id'], ['disclosure.id'], name=op.f('fk_agency_referral_disclosure_id_disclosure')),
    sa.ForeignKeyConstraint(['referred_by_id'], ['user_account.id'], name=op.f('fk_agency_referral_referred_by_id_user_account')),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_agency_referral_school_id_school')),
    sa.ForeignKeyConstraint(['status_changed_by_id'], ['user_account.id'], name=op.f('fk_agency_referral_status_changed_by_id_user_account')),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_agency_referral_student_id_student')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agency_referral'))
    )
    with op.batch_alter_table('agency_referral', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agency_referral_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index('ix_agency_referral_follow_up_on', ['follow_up_on'], unique=False)
        batch_op.create_index('ix_agency_referral_school_id_status', ['school_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_agency_referral_student_id'), ['student_id'], unique=False)
        batch_op.create_index('uq_agency_referral_open', ['student_id', 'agency_id'], unique=True, postgresql_where=sa.text("status IN ('sent', 'accepted', 'services_started')"), sqlite_where=sa.text("status IN ('sent', 'accepted', 'services_started')"))

    op.create_table('disclosure_student',
    sa.Column('disclosure_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['disclosure_id'], ['disclosure.id'], name=op.f('fk_disclosure_student_disclosure_id_disclosure'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_disclosure_student_student_id_student')),
    sa.PrimaryKeyConstraint('disclosure_id', 'student_id', name=op.f('pk_disclosure_student'))
    )
    with op.batch_alter_table('disclosure_student', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disclosure_student_student_id'), ['student_id'], unique=False)

    op.create_table('inspection_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('requested_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('how_received', sa.String(length=200), nullable=True),
    sa.Column('logged_by_id', sa.Integer(), nullable=False),
    sa.Column('logged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('included_restricted_notes', sa.Boolean(), nullable=True),
    sa.Column('disclosure_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'answered')", name=op.f('ck_inspection_request_status_known')),
    sa.ForeignKeyConstraint(['answered_by_id'], ['user_account.id'], name=op.f('fk_inspection_request_answered_by_id_user_account')),
    sa.ForeignKeyConstraint(['disclosure_id'], ['disclosure.id'], name=op.f('fk_inspection_request_disclosure_id_disclosure')),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardian.id'], name=op.f('fk_inspection_request_guardian_id_guardian')),
    sa.ForeignKeyConstraint(['logged_by_id'], ['user_account.id'], name=op.f('fk_inspection_request_logged_by_id_user_account')),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_inspection_request_school_id_school')),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_inspection_request_student_id_student')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_request'))
    )
    with op.batch_alter_table('inspection_request', schema=None) as batch_op:
        batch_op.create_index('ix_inspection_request_school_id_status', ['school_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_request_student_id'), ['student_id'], unique=False)
        batch_op.create_index('uq_inspection_request_open', ['student_id', 'guardian_id'], unique=True, postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))

    op.create_table('agency_referral_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('note_ciphertext', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_agency_referral_event_actor_id_user_account')),
    sa.ForeignKeyConstraint(['referral_id'], ['agency_referral.id'], name=op.f('fk_agency_referral_event_referral_id_agency_referral')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agency_referral_event'))
    )
    with op.batch_alter_table('agency_referral_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agency_referral_event_referral_id'), ['referral_id'], unique=False)

    # The referral table gets three nullable columns without a rebuild: on SQLite a rebuild drops the
    # table, and with foreign keys on, dropping it deletes its concern categories (ON DELETE CASCADE).
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        op.execute('ALTER TABLE referral ADD COLUMN first_opened_at DATETIME')
        op.execute('ALTER TABLE referral ADD COLUMN first_opened_by_id INTEGER '
                   'CONSTRAINT fk_referral_first_opened_by_id_user_account REFERENCES user_account (id)')
        op.execute('ALTER TABLE referral ADD COLUMN routed_to_id INTEGER '
                   'CONSTRAINT fk_referral_routed_to_id_user_account REFERENCES user_account (id)')
        op.execute('ALTER TABLE referral ADD COLUMN escalated_at DATETIME')
    else:
        op.add_column('referral', sa.Column('first_opened_at', sa.DateTime(timezone=True), nullable=True))
        op.add_column('referral', sa.Column('first_opened_by_id', sa.Integer(), nullable=True))
        op.add_column('referral', sa.Column('routed_to_id', sa.Integer(), nullable=True))
        op.add_column('referral', sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True))
        op.create_foreign_key(op.f('fk_referral_first_opened_by_id_user_account'), 'referral', 'user_account',
                              ['first_opened_by_id'], ['id'])
        op.create_foreign_key(op.f('fk_referral_routed_to_id_user_account'), 'referral', 'user_account',
                              ['routed_to_id'], ['id'])
    op.create_index(op.f('ix_referral_routed_to_id'), 'referral', ['routed_to_id'], unique=False)
    op.create_index('ix_referral_unopened_urgent', 'referral', ['submitted_at'], unique=False,
                    postgresql_where=sa.text(UNOPENED_URGENT), sqlite_where=sa.text(UNOPENED_URGENT))
    # Referrals a counselor already opened (their page's audit rows) are not "unopened" urgent ones
    # for the escalation job; decided ones were opened to be decided.
    op.execute("UPDATE referral SET first_opened_at = (SELECT min(a.at) FROM audit_event a "
               "WHERE a.action = 'referral.view' AND a.object_type = 'referral' "
               "AND a.object_id = CAST(referral.id AS VARCHAR(64)))")
    op.execute("UPDATE referral SET first_opened_by_id = (SELECT a.actor_id FROM audit_event a "
               "WHERE a.action = 'referral.view' AND a.object_type = 'referral' "
               "AND a.object_id = CAST(referral.id AS VARCHAR(64)) ORDER BY a.at, a.id LIMIT 1)")
    op.execute("UPDATE referral SET first_opened_at = submitted_at "
               "WHERE first_opened_at IS NULL AND status <> 'new'")


def downgrade():
    op.drop_index('ix_referral_unopened_urgent', table_name='referral',
                  postgresql_where=sa.text(UNOPENED_URGENT), sqlite_where=sa.text(UNOPENED_URGENT))
    op.drop_index(op.f('ix_referral_routed_to_id'), table_name='referral')
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite 3.35+ drops a column in place (a rebuild would cascade into referral_category).
        for column in ('escalated_at', 'routed_to_id', 'first_opened_by_id', 'first_opened_at'):
            op.execute(f'ALTER TABLE referral DROP COLUMN {column}')
    else:
        op.drop_constraint(op.f('fk_referral_first_opened_by_id_user_account'), 'referral', type_='foreignkey')
        op.drop_constraint(op.f('fk_referral_routed_to_id_user_account'), 'referral', type_='foreignkey')
        for column in ('escalated_at', 'routed_to_id', 'first_opened_by_id', 'first_opened_at'):
            op.drop_column('referral', column)

    with op.batch_alter_table('agency_referral_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agency_referral_event_referral_id'))

    op.drop_table('agency_referral_event')
    with op.batch_alter_table('inspection_request', schema=None) as batch_op:
        batch_op.drop_index('uq_inspection_request_open', postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))
        batch_op.drop_index(batch_op.f('ix_inspection_request_student_id'))
        batch_op.drop_index('ix_inspection_request_school_id_status')

    op.drop_table('inspection_request')
    with op.batch_alter_table('disclosure_student', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disclosure_student_student_id'))

    op.drop_table('disclosure_student')
    with op.batch_alter_table('agency_referral', schema=None) as batch_op:
        batch_op.drop_index('uq_agency_referral_open', postgresql_where=sa.text("status IN ('sent', 'accepted', 'services_started')"), sqlite_where=sa.text("status IN ('sent', 'accepted', 'services_started')"))
        batch_op.drop_index(batch_op.f('ix_agency_referral_student_id'))
        batch_op.drop_index('ix_agency_referral_school_id_status')
        batch_op.drop_index('ix_agency_referral_follow_up_on')
        batch_op.drop_index(batch_op.f('ix_agency_referral_agency_id'))

    op.drop_table('agency_referral')
    with op.batch_alter_table('disclosure', schema=None) as batch_op:
        batch_op.drop_index('ix_disclosure_source')

    op.drop_table('disclosure')
    with op.batch_alter_table('guardian_student', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardian_student_student_id'))

    op.drop_table('guardian_student')
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_student_id_guardian_id')

    op.drop_table('consent')
    op.drop_table('guardian')
    op.drop_table('agency')
