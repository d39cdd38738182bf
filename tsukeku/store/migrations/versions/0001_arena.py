"""The arena: battles (who answered what) and votes (one per battle at most).

The same tables as the arena's first SQLite schema (PRAGMA user_version 1); a file at that
version is stamped with this revision instead of running it.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "battles",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("previous", sa.Text, nullable=False),
        sa.Column("model_a", sa.Text, nullable=False),
        sa.Column("model_b", sa.Text, nullable=False),
        sa.Column("answer_a", sa.Text, nullable=False),
        sa.Column("answer_b", sa.Text, nullable=False),
        sa.CheckConstraint("model_a <> model_b", name="battles_two_models"),
    )
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("battle_id", sa.Text, sa.ForeignKey("battles.id"), nullable=False),
        sa.Column("winner", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        # One vote per battle, decided by the database whichever instance writes it.
        sa.UniqueConstraint("battle_id", name="votes_battle_id_key"),
        sa.CheckConstraint("winner IN ('a', 'b', 'tie', 'both_bad')", name="votes_winner"),
        sqlite_autoincrement=True,
    )
