"""Unvoted battles are pruned by age, and the leaderboard reads votes joined to battles.

The arena's second SQLite schema (PRAGMA user_version 2).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("battles_created_at", "battles", ["created_at"])
    op.create_index("votes_created_at", "votes", ["created_at"])
