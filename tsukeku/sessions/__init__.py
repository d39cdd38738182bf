"""Renga sessions (座): people and models compose a 歌仙 or 半歌仙 together, turn by turn, over
the project's store. Domain only (no HTTP): `tsukeku.serving.routes.sessions` and
`tsukeku renga play` are its entrypoints. See docs/sessions.md."""

from tsukeku.sessions.service import SessionLimits, SessionService

__all__ = ["SessionLimits", "SessionService"]
