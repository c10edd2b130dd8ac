"""email outbox: leases that a sender renews, the hand-over to the relay, a stable Message-ID, the last try

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 16:45:00

- notification.leased_until: a claim holds until then; the sender renews it while it works, and
  only a claim whose lease has run out (its sender died) is taken over;
- notification.handed_at: when the sender began handing the email to the relay (just before DATA),
  cleared with the claim; set on a pending row, the relay may already have the email;
- notification.message_id: the Message-ID every copy of the email carries, chosen when the row is
  made (older rows have none and keep the one they were sent with, `<notification-ID@SP_MAIL_DOMAIN>`);
- notification.last_attempt_at: when the latest try ended (sent or failed), so the admin can queue
  again the emails that failed in one period; filled for older rows that were tried from sent_at,
  or else created_at;
- an index on (channel, state, last_attempt_at) for that.
"""
import sqlalchemy as sa
from alembic import op

from school_prevention.db import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notification') as batch:
        batch.add_column(sa.Column('leased_until', UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('handed_at', UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('message_id', sa.String(length=250), nullable=True))
        batch.add_column(sa.Column('last_attempt_at', UTCDateTime(), nullable=True))
    op.execute("UPDATE notification SET last_attempt_at = COALESCE(sent_at, created_at) "
               "WHERE channel = 'email' AND attempts > 0")
    op.create_index('ix_notification_tried', 'notification', ['channel', 'state', 'last_attempt_at'], unique=False)


def downgrade():
    op.drop_index('ix_notification_tried', table_name='notification')
    with op.batch_alter_table('notification') as batch:
        batch.drop_column('last_attempt_at')
        batch.drop_column('message_id')
        batch.drop_column('handed_at')
        batch.drop_column('leased_until')
