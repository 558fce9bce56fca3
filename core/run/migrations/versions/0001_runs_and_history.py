"""The first run store schema: runs (one row per run) and history (one row per run and epoch).

Stores made before Alembic already hold these tables: each is created only where it is missing.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "runs" not in have:
        op.create_table(
            "runs",
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("task", sa.Text, nullable=False),
            sa.Column("dataset", sa.Text),
            sa.Column("model", sa.Text),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("config", sa.Text, nullable=False),
            sa.Column("metrics", sa.Text),
            sa.Column("details", sa.Text),
            sa.Column("created", sa.Float, nullable=False),
            sa.Column("finished", sa.Float),
            sa.Column("seconds", sa.Float),
            sa.Column("error", sa.Text),
            sa.Column("pid", sa.Integer),
        )
    if "history" not in have:
        op.create_table(
            "history",
            sa.Column("run_id", sa.Text, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
            sa.Column("epoch", sa.Integer, primary_key=True),
            sa.Column("logs", sa.Text, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("history")
    op.drop_table("runs")
