"""Who runs a run, for telling a run whose process has gone: pid_start (to tell a reused pid), host and heartbeat
(seconds since the epoch by the database's clock, for stores shared between machines).

A store made before Alembic may hold some of these already (it gained them one by one when opened): each is added
only where it is missing.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = {"pid_start": sa.BigInteger, "host": sa.Text, "heartbeat": sa.Float}


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}
    missing = [name for name in COLUMNS if name not in have]
    if missing:
        with op.batch_alter_table("runs") as batch:
            for name in missing:
                batch.add_column(sa.Column(name, COLUMNS[name]))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
