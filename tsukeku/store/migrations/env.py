"""Alembic's environment for tsukeku's store. Run only through tsukeku.store.migrate, which
passes an open connection (inside its transaction and lock) as `config.attributes["connection"]`;
there is no alembic.ini and no engine of its own here."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run tsukeku's migrations with `tsukeku db upgrade` (tsukeku.store.migrate)")

context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
