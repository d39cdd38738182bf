"""The tables as SQLAlchemy Core objects, for queries. The migrations (tsukeku/store/migrations)
create them and are the source of truth; a test checks that the two agree.

Times are ISO-8601 UTC text (`2026-01-01T00:00:00.000+00:00`) in both databases: they sort as
text, and the arena's first SQLite schema stored them so.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

battles = sa.Table(
    "battles", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("previous", sa.Text, nullable=False),
    sa.Column("model_a", sa.Text, nullable=False),
    sa.Column("model_b", sa.Text, nullable=False),
    sa.Column("answer_a", sa.Text, nullable=False),  # JSON
    sa.Column("answer_b", sa.Text, nullable=False),  # JSON
)

votes = sa.Table(
    "votes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("battle_id", sa.Text, sa.ForeignKey("battles.id"), nullable=False, unique=True),
    sa.Column("winner", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
)

sessions = sa.Table(
    "sessions", metadata,
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
)

participants = sa.Table(
    "participants", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.Text, sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("model", sa.Text),
    sa.Column("is_host", sa.Boolean, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
)

session_verses = sa.Table(
    "session_verses", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.Text, sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("seat", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("reading", sa.Text),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("season", sa.Text),
    sa.Column("topics", sa.Text, nullable=False),  # JSON list
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("participant_id", sa.Integer, sa.ForeignKey("participants.id")),
    sa.Column("accepted", sa.Text, nullable=False),  # JSON list of rule ids
    sa.Column("created_at", sa.Text, nullable=False),
)

session_events = sa.Table(
    "session_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.Text, sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # JSON
    sa.Column("created_at", sa.Text, nullable=False),
)
