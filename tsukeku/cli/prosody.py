"""CLI commands of this area (registered by tsukeku.cli)."""

import typer


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the top-level app."""
