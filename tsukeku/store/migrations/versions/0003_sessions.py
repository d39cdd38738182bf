"""Renga sessions: the session, its participants, its verses (one per seat) and its events
(the outbox the live stream reads, in every instance).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("form", sa.Text, nullable=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("turn_order", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("join_token", sa.Text, nullable=False),
        sa.Column("host_token", sa.Text, nullable=False),
        sa.CheckConstraint("status IN ('open', 'finished', 'ended')", name="sessions_status"),
        sa.CheckConstraint("turn_order IN ('rotation', 'degachi')", name="sessions_turn_order"),
    )
    op.create_index("sessions_status_updated", "sessions", ["status", "updated_at"])
    op.create_table(
        "participants",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Text, sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("model", sa.Text),
        sa.Column("is_host", sa.Boolean, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.UniqueConstraint("session_id", "position", name="participants_position"),
        sa.CheckConstraint("kind IN ('human', 'model')", name="participants_kind"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "session_verses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Text, sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("seat", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("reading", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("season", sa.Text),
        sa.Column("topics", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("participant_id", sa.Integer, sa.ForeignKey("participants.id")),
        sa.Column("accepted", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        # One verse per seat: two instances posting for the same seat, only one commits.
        sa.UniqueConstraint("session_id", "seat", name="session_verses_seat"),
        sa.CheckConstraint("seat >= 1", name="session_verses_seat_positive"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "session_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Text, sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        # AUTOINCREMENT: an id is never reused after a delete, so "after id N" stays true.
        sqlite_autoincrement=True,
    )
    op.create_index("session_events_session", "session_events", ["session_id", "id"])
