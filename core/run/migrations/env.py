"""Alembic's entry point for the run store: migrations run on the connection core/run/store.py hands over, in its
transaction (which holds the store's migration lock), never from an ini file or a URL of their own."""

from alembic import context

connection = context.config.attributes["connection"]
# SQLite alters a table by copying it (batch mode); PostgreSQL alters in place.
context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
